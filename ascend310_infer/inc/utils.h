/**
 * Helpers for the SmartAssign MindSpore Lite inference program: command-line parsing,
 * file listing and raw file I/O, and status formatting. No dependency beyond the C++17
 * standard library and the MindSpore Lite C++ API headers.
 */
#ifndef SMARTASSIGN_ASCEND310_INFER_INC_UTILS_H_
#define SMARTASSIGN_ASCEND310_INFER_INC_UTILS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "include/api/status.h"
#include "include/api/types.h"

namespace smartassign {

/// Values of the --key=value flags.
struct Options {
  std::string mindir_path;                  // --mindir_path (required)
  std::string input0_path;                  // --input0_path (required): directory of .bin tiles
  std::string device_type = "Ascend";       // --device_type: Ascend | CPU
  uint32_t device_id = 0;                   // --device_id (Ascend only)
  std::string result_dir = "./result_Files";  // --result_dir
  std::string time_dir = "./time_Result";     // --time_dir
};

/// Outcome of ParseArgs.
enum class ParseResult { kOk, kHelp, kError };

/// One-line usage text for `prog`, plus a short description of every flag.
std::string Usage(const std::string &prog);

/// Parses `--key=value` arguments into `opts`. On kError, `error` says why in one line.
/// No arguments at all, `--help` or `-h` give kHelp.
ParseResult ParseArgs(int argc, const char *const *argv, Options *opts, std::string *error);

/// Regular files ending in ".bin" directly inside `dir`, sorted by name. A path to a single
/// regular file is returned as the only element. Returns false and sets `error` if `dir` does
/// not exist or cannot be read.
bool ListBinFiles(const std::string &dir, std::vector<std::string> *files, std::string *error);

/// Creates `dir` and its parents if needed.
bool MakeDirs(const std::string &dir, std::string *error);

/// Size of a regular file in bytes.
bool FileSize(const std::string &path, std::uintmax_t *size, std::string *error);

/// Reads exactly `size` bytes of `path` into `dst`.
bool ReadFileInto(const std::string &path, void *dst, std::size_t size, std::string *error);

/// Writes `size` bytes from `data` to `path` (truncating).
bool WriteFileBytes(const std::string &path, const void *data, std::size_t size, std::string *error);

/// File name without directory and without its last extension ("a/b/tile_01.bin" -> "tile_01").
std::string FileStem(const std::string &path);

/// "a/b" + "c" with exactly one separator.
std::string JoinPath(const std::string &dir, const std::string &name);

/// "(status 0x..., <code name>): <message>" for a MindSpore status.
std::string DescribeStatus(const mindspore::Status &status);

/// "[1,3,256,256]".
std::string ShapeToString(const std::vector<int64_t> &shape);

/// Short name of a tensor data type ("float32", "float16", ...; "type <n>" otherwise).
std::string DataTypeName(mindspore::DataType type);

}  // namespace smartassign

#endif  // SMARTASSIGN_ASCEND310_INFER_INC_UTILS_H_
