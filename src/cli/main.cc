// zae-limiter: the command line. Everything lives in app.cc and one file per
// command group; see docs/cli.md.
#include "cli/app.h"

int main(int argc, char** argv) { return zae::cli::Main(argc, argv); }
