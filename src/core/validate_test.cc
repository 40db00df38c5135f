#include "zae/validate.h"

#include <gtest/gtest.h>

#include <string>

#include "zae/errors.h"

namespace zae {
namespace {

template <typename Fn>
std::string ErrorOf(Fn fn) {
  try {
    fn();
  } catch (const ValidationError& e) {
    return e.what();
  }
  return "";
}

TEST(ValidateIdentifier, AcceptsTheReferenceAlphabet) {
  for (const char* ok : {"a", "0", "user-1", "proj_2.key:3@x", "A"}) {
    EXPECT_NO_THROW(ValidateIdentifier(ok)) << ok;
  }
  EXPECT_NO_THROW(ValidateIdentifier(std::string(256, 'a')));
}

TEST(ValidateIdentifier, RejectsInOrderWithReadableMessages) {
  EXPECT_EQ(ErrorOf([] { ValidateIdentifier(""); }),
            "Invalid entity_id: identifier cannot be empty");
  EXPECT_EQ(ErrorOf([] { ValidateIdentifier(std::string(257, '#')); }),
            "Invalid entity_id: identifier exceeds maximum length of 256 characters");
  EXPECT_EQ(ErrorOf([] { ValidateIdentifier("a#b"); }),
            "Invalid entity_id: identifier cannot contain '#' (reserved delimiter)");
  EXPECT_NE(ErrorOf([] { ValidateIdentifier("_a"); }), "");
  EXPECT_NE(ErrorOf([] { ValidateIdentifier("a/b"); }), "");
  EXPECT_NE(ErrorOf([] { ValidateIdentifier("a b"); }), "");
  EXPECT_EQ(ErrorOf([] { ValidateIdentifier("a b", "parent_id"); }).rfind("Invalid parent_id", 0),
            0u);
  EXPECT_THROW(ValidateIdentifier("-a"), InvalidIdentifierError);
}

TEST(ValidateIdentifier, TruncatesStoredValue) {
  try {
    ValidateIdentifier(std::string(300, 'x'));
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.value(), std::string(50, 'x') + "...");
  }
}

TEST(ValidateLimitName, Rules) {
  for (const char* ok : {"rpm", "tpm", "a_b", "rpm-x", "v1.2"}) {
    EXPECT_NO_THROW(ValidateLimitName(ok)) << ok;
  }
  EXPECT_NO_THROW(ValidateLimitName(std::string(64, 'a')));
  for (const char* bad : {"", "1rpm", "_x", "a/b", "a:b", "a#b", "wcu", "a b"}) {
    EXPECT_THROW(ValidateLimitName(bad), InvalidNameError) << bad;
  }
  EXPECT_THROW(ValidateLimitName(std::string(65, 'a')), InvalidNameError);
  // '#' is reported before the reserved-name and pattern checks
  EXPECT_EQ(ErrorOf([] { ValidateLimitName("#"); }),
            "Invalid name: name cannot contain '#' (reserved delimiter)");
  EXPECT_EQ(ErrorOf([] { ValidateLimitName("wcu"); }),
            "Invalid name: 'wcu' is a reserved limit name (used for write-capacity tracking)");
}

TEST(ValidateResource, AllowsSlashButNotDefault) {
  EXPECT_NO_THROW(ValidateResource("openai/gpt-4"));
  EXPECT_NO_THROW(ValidateResource("wcu"));  // reserved only for limit names
  EXPECT_THROW(ValidateResource("_default_"), InvalidNameError);
  EXPECT_THROW(ValidateResource("/x"), InvalidNameError);
  EXPECT_THROW(ValidateResource("a#b"), InvalidNameError);
  EXPECT_THROW(ValidateResource(std::string(65, 'a')), InvalidNameError);
  EXPECT_NO_THROW(ValidateEntityConfigResource("_default_"));
  EXPECT_THROW(ValidateEntityConfigResource("_other_"), InvalidNameError);
}

TEST(ValidateNamespaceName, ReservesUnderscore) {
  EXPECT_NO_THROW(ValidateNamespaceName("default"));
  EXPECT_NO_THROW(ValidateNamespaceName("tenant-a"));
  EXPECT_THROW(ValidateNamespaceName("_"), ValidationError);
  EXPECT_THROW(ValidateNamespaceName(""), ValidationError);
}

}  // namespace
}  // namespace zae
