/**
 * Helpers for the SmartAssign MindSpore Lite inference program (see inc/utils.h).
 */
#include "inc/utils.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

namespace fs = std::filesystem;

namespace smartassign {
namespace {

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ParseUint32(const std::string &text, uint32_t *value) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 10) {
    return false;
  }
  const unsigned long long v = std::stoull(text);
  if (v > std::numeric_limits<uint32_t>::max()) {
    return false;
  }
  *value = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

std::string Usage(const std::string &prog) {
  std::ostringstream os;
  os << "usage: " << prog
     << " --mindir_path=MODEL.mindir --input0_path=DIR [--device_type=Ascend|CPU] [--device_id=N]"
        " [--result_dir=DIR] [--time_dir=DIR]\n"
        "  --mindir_path  MINDIR exported at a fixed tile shape (required)\n"
        "  --input0_path  directory of float32 NCHW .bin tiles, each exactly the model input's size (required)\n"
        "  --device_type  Ascend (default) or CPU\n"
        "  --device_id    Ascend device id (default 0)\n"
        "  --result_dir   output directory, one <stem>_<i>.bin per output i (default ./result_Files)\n"
        "  --time_dir     directory for test_perform_static.txt (default ./time_Result)\n";
  return os.str();
}

ParseResult ParseArgs(int argc, const char *const *argv, Options *opts, std::string *error) {
  if (argc <= 1) {
    return ParseResult::kHelp;
  }
  bool have_mindir = false;
  bool have_input = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      return ParseResult::kHelp;
    }
    if (arg.rfind("--", 0) != 0 || arg.find('=') == std::string::npos) {
      *error = "argument '" + arg + "' is not of the form --key=value";
      return ParseResult::kError;
    }
    const std::size_t eq = arg.find('=');
    const std::string key = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    if (key == "mindir_path") {
      opts->mindir_path = value;
      have_mindir = !value.empty();
    } else if (key == "input0_path") {
      opts->input0_path = value;
      have_input = !value.empty();
    } else if (key == "device_type") {
      const std::string lower = ToLower(value);
      if (lower == "ascend") {
        opts->device_type = "Ascend";
      } else if (lower == "cpu") {
        opts->device_type = "CPU";
      } else {
        *error = "--device_type must be Ascend or CPU, got '" + value + "'";
        return ParseResult::kError;
      }
    } else if (key == "device_id") {
      if (!ParseUint32(value, &opts->device_id)) {
        *error = "--device_id must be a non-negative integer, got '" + value + "'";
        return ParseResult::kError;
      }
    } else if (key == "result_dir") {
      if (value.empty()) {
        *error = "--result_dir must not be empty";
        return ParseResult::kError;
      }
      opts->result_dir = value;
    } else if (key == "time_dir") {
      if (value.empty()) {
        *error = "--time_dir must not be empty";
        return ParseResult::kError;
      }
      opts->time_dir = value;
    } else {
      *error = "unknown flag --" + key;
      return ParseResult::kError;
    }
  }
  if (!have_mindir) {
    *error = "--mindir_path is required";
    return ParseResult::kError;
  }
  if (!have_input) {
    *error = "--input0_path is required";
    return ParseResult::kError;
  }
  return ParseResult::kOk;
}

bool ListBinFiles(const std::string &dir, std::vector<std::string> *files, std::string *error) {
  files->clear();
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec || !fs::exists(st)) {
    *error = "input path " + dir + " does not exist";
    return false;
  }
  if (fs::is_regular_file(st)) {
    files->push_back(dir);
    return true;
  }
  if (!fs::is_directory(st)) {
    *error = "input path " + dir + " is neither a directory nor a regular file";
    return false;
  }
  fs::directory_iterator it(dir, ec);
  if (ec) {
    *error = "cannot read directory " + dir + ": " + ec.message();
    return false;
  }
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      *error = "cannot read directory " + dir + ": " + ec.message();
      return false;
    }
    std::error_code type_ec;
    if (it->path().extension() == ".bin" && it->is_regular_file(type_ec)) {
      files->push_back(it->path().string());
    }
  }
  if (ec) {
    *error = "cannot read directory " + dir + ": " + ec.message();
    return false;
  }
  std::sort(files->begin(), files->end());
  return true;
}

bool MakeDirs(const std::string &dir, std::string *error) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    *error = "cannot create directory " + dir + (ec ? ": " + ec.message() : std::string());
    return false;
  }
  return true;
}

bool FileSize(const std::string &path, std::uintmax_t *size, std::string *error) {
  std::error_code ec;
  *size = fs::file_size(path, ec);
  if (ec) {
    *error = "cannot stat " + path + ": " + ec.message();
    return false;
  }
  return true;
}

bool ReadFileInto(const std::string &path, void *dst, std::size_t size, std::string *error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path + " for reading: " + std::strerror(errno);
    return false;
  }
  in.read(static_cast<char *>(dst), static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in.gcount()) != size) {
    *error = "short read from " + path + ": got " + std::to_string(in.gcount()) + " of " + std::to_string(size) +
             " bytes";
    return false;
  }
  return true;
}

bool WriteFileBytes(const std::string &path, const void *data, std::size_t size, std::string *error) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    *error = "cannot open " + path + " for writing: " + std::strerror(errno);
    return false;
  }
  out.write(static_cast<const char *>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    *error = "cannot write " + std::to_string(size) + " bytes to " + path;
    return false;
  }
  return true;
}

std::string FileStem(const std::string &path) { return fs::path(path).stem().string(); }

std::string JoinPath(const std::string &dir, const std::string &name) { return (fs::path(dir) / name).string(); }

std::string DescribeStatus(const mindspore::Status &status) {
  char code[16];
  std::snprintf(code, sizeof(code), "0x%08x", static_cast<unsigned>(status.StatusCode()));
  std::string text = std::string("(status ") + code + ", " + mindspore::Status::CodeAsString(status.StatusCode()) + ")";
  const std::string message = status.ToString();
  if (message.empty() || message == mindspore::Status::CodeAsString(status.StatusCode())) {
    return text + ": no further detail in the status, see MindSpore Lite's log above";
  }
  return text + ": " + message;
}

std::string ShapeToString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    s += (i ? "," : "") + std::to_string(shape[i]);
  }
  return s + "]";
}

std::string DataTypeName(mindspore::DataType type) {
  using mindspore::DataType;
  switch (type) {
    case DataType::kNumberTypeBool:
      return "bool";
    case DataType::kNumberTypeInt8:
      return "int8";
    case DataType::kNumberTypeInt16:
      return "int16";
    case DataType::kNumberTypeInt32:
      return "int32";
    case DataType::kNumberTypeInt64:
      return "int64";
    case DataType::kNumberTypeUInt8:
      return "uint8";
    case DataType::kNumberTypeUInt16:
      return "uint16";
    case DataType::kNumberTypeUInt32:
      return "uint32";
    case DataType::kNumberTypeUInt64:
      return "uint64";
    case DataType::kNumberTypeFloat16:
      return "float16";
    case DataType::kNumberTypeFloat32:
      return "float32";
    case DataType::kNumberTypeFloat64:
      return "float64";
    default:
      return "type " + std::to_string(static_cast<int>(type));
  }
}

}  // namespace smartassign
