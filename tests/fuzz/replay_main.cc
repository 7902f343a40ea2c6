// A main() for fuzz targets built without libFuzzer (any compiler): runs LLVMFuzzerTestOneInput over every file
// of the directories (or the files) given as arguments, like simdjson's fuzz/main.cpp, so ctest replays each
// seed corpus and every fixed crasher on every build, sanitizers included.
//
//   message_fuzz_replay tests/fuzz/corpus/message [more dirs or files...]
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // An exact-size heap copy, so ASan sees a read past the end as one (a std::string has spare capacity).
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  if (copy.empty()) copy.reserve(1);  // data() must not be nullptr
  std::printf("%s (%zu bytes)\n", path.c_str(), copy.size());
  std::fflush(stdout);
  LLVMFuzzerTestOneInput(copy.data(), copy.size());
}

}  // namespace

int main(int argc, char** argv) {
  size_t runs = 0;
  static const uint8_t empty = 0;
  LLVMFuzzerTestOneInput(&empty, 0);  // the empty input, always (libFuzzer never passes nullptr either)
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg = argv[i];
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg))
        if (entry.is_regular_file()) files.push_back(entry.path());
      std::sort(files.begin(), files.end());
      for (const auto& file : files) run_file(file);
      runs += files.size();
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      run_file(arg);
      ++runs;
    } else {
      std::fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
      return 1;
    }
  }
  std::printf("replay: %zu inputs, no crash\n", runs);
  return 0;
}
