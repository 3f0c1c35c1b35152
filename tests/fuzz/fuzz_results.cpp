// libFuzzer target for the results reader: read_results must either return a record or throw
// std::runtime_error naming the problem (its documented contract). Any other exception escaping
// it, a crash, a leak or undefined behaviour is a bug. A record it accepts must survive the
// writer's JSON and come back equal, as `infercost run` writes it and later commands read it.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "fuzz_check.hpp"
#include "infercost/results.hpp"

namespace {

// read_results takes a path: each input goes into one in-memory file (no disk writes, so a
// campaign of millions of inputs costs nothing but memory) read back through /proc/self/fd.
class InputFile {
 public:
  InputFile() : fd_(memfd_create("fuzz_results_input", 0)) {
    infercost_fuzz::require(fd_ >= 0, "memfd_create succeeds");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    infercost_fuzz::require(ftruncate(fd_, 0) == 0, "ftruncate of the input file succeeds");
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      infercost_fuzz::require(n > 0, "pwrite of the input file succeeds");
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static InputFile input;
  infercost::RunRecord record;
  try {
    record = infercost::read_results(input.write(data, size));
  } catch (const std::runtime_error&) {
    return 0;  // the documented refusal of a malformed or foreign file
  }
  const std::string written = infercost::to_json(record).dump(2);
  const infercost::RunRecord reread = infercost::run_record_from_json(nlohmann::json::parse(written));
  infercost_fuzz::require(reread == record, "an accepted record reads back equal after to_json");
  return 0;
}
