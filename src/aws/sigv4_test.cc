// Runs every case of the AWS SigV4 test suite in testdata/sigv4 (header form).
#include "aws/sigv4.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "aws/json.h"

namespace zae::aws {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(ZAE_SOURCE_DIR) / "testdata" / "sigv4";

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TrimNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::string> Cases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kDir)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct ParsedRequest {
  HttpRequest request;
  std::string head;  // request line and header lines as written
};

ParsedRequest ParseRequestFile(const std::string& text) {
  ParsedRequest out;
  size_t head_end = text.find("\n\n");
  out.head = TrimNewlines(text.substr(0, head_end));
  std::string body = head_end == std::string::npos ? "" : text.substr(head_end + 2);
  out.request.body = body;
  std::istringstream in(out.head);
  std::string line;
  std::getline(in, line);
  size_t sp = line.find(' ');
  size_t proto = line.rfind(" HTTP/");
  out.request.method = line.substr(0, sp);
  std::string target = line.substr(sp + 1, proto - sp - 1);
  size_t q = target.find('?');
  out.request.path = target.substr(0, q);
  if (q != std::string::npos) out.request.query = target.substr(q + 1);
  while (std::getline(in, line)) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      out.request.headers.back().second += "\n" + line;  // folded continuation
      continue;
    }
    size_t colon = line.find(':');
    out.request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return out;
}

class SigV4Test : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4Test, HeaderForm) {
  const fs::path dir = kDir / GetParam();
  rapidjson::Document ctx;
  std::string ctx_text = Slurp(dir / "context.json");
  ctx.Parse(ctx_text.c_str());
  ASSERT_FALSE(ctx.HasParseError());
  const auto& cj = ctx["credentials"];
  Credentials creds;
  creds.access_key_id = cj["access_key_id"].GetString();
  creds.secret_access_key = cj["secret_access_key"].GetString();
  if (cj.HasMember("token")) creds.session_token = cj["token"].GetString();
  SigningOptions options;
  options.normalize_path = ctx["normalize"].GetBool();
  options.sign_body = ctx["sign_body"].GetBool();
  if (ctx.HasMember("omit_session_token")) {
    options.omit_session_token = ctx["omit_session_token"].GetBool();
  }
  std::tm tm{};
  std::istringstream ts(ctx["timestamp"].GetString());
  ts >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  auto now = std::chrono::system_clock::from_time_t(timegm(&tm));

  ParsedRequest parsed = ParseRequestFile(Slurp(dir / "request.txt"));
  HttpRequest req = parsed.request;
  const size_t original_headers = req.headers.size();
  SigningResult r =
      SignRequest(req, creds, ctx["region"].GetString(), ctx["service"].GetString(), now, options);

  EXPECT_EQ(r.canonical_request, TrimNewlines(Slurp(dir / "header-canonical-request.txt")));
  EXPECT_EQ(r.string_to_sign, TrimNewlines(Slurp(dir / "header-string-to-sign.txt")));
  EXPECT_EQ(r.signature, TrimNewlines(Slurp(dir / "header-signature.txt")));

  std::string signed_text = parsed.head + "\n";
  for (size_t i = original_headers; i < req.headers.size(); ++i) {
    signed_text += req.headers[i].first + ":" + req.headers[i].second + "\n";
  }
  signed_text += "\n" + req.body;
  EXPECT_EQ(TrimNewlines(signed_text), TrimNewlines(Slurp(dir / "header-signed-request.txt")));

  // The client's path signs with this thread's scratch, left over from the
  // vector signed before: it must add exactly the same headers.
  HttpRequest in_place = parsed.request;
  SignRequestInPlace(in_place, creds, ctx["region"].GetString(), ctx["service"].GetString(), now,
                     options);
  EXPECT_EQ(in_place.headers, req.headers);
}

INSTANTIATE_TEST_SUITE_P(Vectors, SigV4Test, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(SigV4, AllVectorsPresent) { EXPECT_GE(Cases().size(), 38u); }

// The signature of `string_to_sign`, derived the long way with OpenSSL's
// one-shot HMAC (a reference independent of the signer's kept contexts).
std::string ReferenceSignature(const std::string& secret, const std::string& date,
                               const std::string& region, const std::string& service,
                               const std::string& string_to_sign) {
  unsigned char key[32];
  unsigned int len = 0;
  std::string k = "AWS4" + secret;
  auto mac = [&](const unsigned char* key_in, size_t key_size, const std::string& data) {
    HMAC(EVP_sha256(), key_in, static_cast<int>(key_size),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), key, &len);
  };
  mac(reinterpret_cast<const unsigned char*>(k.data()), k.size(), date);
  for (const std::string* part : {&region, &service}) mac(key, sizeof key, *part);
  mac(key, sizeof key, "aws4_request");
  mac(key, sizeof key, string_to_sign);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : key) out.append(1, hex[c >> 4]).append(1, hex[c & 15]);
  return out;
}

// The signer keeps, per thread, a MAC context keyed with the signing key:
// a new secret (or day) must re-key it, and going back must too.
TEST(SigV4, EachSecretAndDaySignsWithItsOwnKey) {
  const auto day1 = std::chrono::system_clock::from_time_t(1'700'000'000);
  const auto day2 = day1 + std::chrono::hours(24);
  struct Case {
    std::string secret;
    std::chrono::system_clock::time_point when;
    std::string date;
  };
  const Case cases[] = {{"secret-one", day1, "20231114"},
                        {"secret-two", day1, "20231114"},
                        {"secret-one", day1, "20231114"},
                        {"secret-one", day2, "20231115"},
                        {"secret-one", day2, "20231115"}};
  std::string signatures[5];
  for (size_t i = 0; i < 5; ++i) {
    HttpRequest req;
    req.method = "POST";
    req.path = "/";
    req.headers = {{"Host", "dynamodb.us-east-1.amazonaws.com"}};
    req.body = "{}";
    Credentials creds;
    creds.access_key_id = "AKID";
    creds.secret_access_key = cases[i].secret;
    SigningResult r = SignRequest(req, creds, "us-east-1", "dynamodb", cases[i].when, {});
    EXPECT_EQ(r.signature, ReferenceSignature(cases[i].secret, cases[i].date, "us-east-1",
                                              "dynamodb", r.string_to_sign))
        << i;
    signatures[i] = r.signature;
  }
  EXPECT_NE(signatures[0], signatures[1]);
  EXPECT_EQ(signatures[0], signatures[2]);
  EXPECT_NE(signatures[2], signatures[3]);
  EXPECT_EQ(signatures[3], signatures[4]);
}

TEST(SigV4, UriEncode) {
  EXPECT_EQ(UriEncode("a b/c~", true), "a%20b/c~");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
}

}  // namespace
}  // namespace zae::aws
