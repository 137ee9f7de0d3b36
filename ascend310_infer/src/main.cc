/**
 * SmartAssign inference on MindSpore Lite (Ascend 310 through AscendDeviceInfo, or CPU).
 *
 * Builds a MINDIR exported at a fixed tile shape, then runs one Predict per float32 NCHW .bin
 * tile found in --input0_path (sorted by name). Output i of tile <stem>.bin is written as raw
 * bytes to <result_dir>/<stem>_<i>.bin; the mean Predict latency goes to stdout and to
 * <time_dir>/test_perform_static.txt.
 *
 * Exit codes: 0 success, 1 a step failed (one "error: ..." line on stderr names it),
 * 2 usage error (no arguments, --help, or a bad flag).
 */
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/status.h"
#include "include/api/types.h"
#include "inc/utils.h"

namespace {

using smartassign::DataTypeName;
using smartassign::DescribeStatus;
using smartassign::Options;
using smartassign::ShapeToString;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int Fail(const std::string &message) {
  std::cerr << "error: " << message << std::endl;
  return kExitFailure;
}

std::shared_ptr<mindspore::Context> MakeContext(const Options &opts) {
  auto context = std::make_shared<mindspore::Context>();
  auto &device_list = context->MutableDeviceInfo();
  if (opts.device_type == "Ascend") {
    auto ascend = std::make_shared<mindspore::AscendDeviceInfo>();
    ascend->SetDeviceID(opts.device_id);
    device_list.push_back(ascend);
  } else {
    device_list.push_back(std::make_shared<mindspore::CPUDeviceInfo>());
  }
  return context;
}

std::string DeviceLabel(const Options &opts) {
  return opts.device_type == "Ascend" ? "Ascend device " + std::to_string(opts.device_id) : std::string("CPU");
}

int Run(const Options &opts) {
  std::string err;

  // 1. Check every path before the (slow) model build.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(opts.mindir_path, ec)) {
    return Fail("MINDIR file not found: " + opts.mindir_path);
  }
  std::vector<std::string> files;
  if (!smartassign::ListBinFiles(opts.input0_path, &files, &err)) {
    return Fail(err);
  }
  if (files.empty()) {
    return Fail("no .bin files in input directory " + opts.input0_path);
  }
  if (!smartassign::MakeDirs(opts.result_dir, &err) || !smartassign::MakeDirs(opts.time_dir, &err)) {
    return Fail(err);
  }

  // 2. Context and build.
  const std::string device = DeviceLabel(opts);
  std::cout << "building " << opts.mindir_path << " on " << device << std::endl;
  auto context = MakeContext(opts);
  mindspore::Model model;
  const mindspore::Status build_status = model.Build(opts.mindir_path, mindspore::ModelType::kMindIR, context);
  if (build_status != mindspore::kSuccess) {
    return Fail("Model::Build failed for " + opts.mindir_path + " on " + device + " " + DescribeStatus(build_status));
  }

  // 3. The single float32 input with a static shape, and the byte size every tile must have.
  std::vector<mindspore::MSTensor> inputs = model.GetInputs();
  if (inputs.size() != 1) {
    return Fail("Model::GetInputs returned " + std::to_string(inputs.size()) + " inputs for " + opts.mindir_path +
                "; this program feeds exactly one (input0)");
  }
  mindspore::MSTensor &input = inputs[0];
  const std::vector<int64_t> shape = input.Shape();
  const std::string input_desc =
      "model input '" + input.Name() + "' (" + DataTypeName(input.DataType()) + ", shape " + ShapeToString(shape) + ")";
  if (input.DataType() != mindspore::DataType::kNumberTypeFloat32) {
    return Fail(input_desc + " is not float32; export the MINDIR with a float32 input");
  }
  for (int64_t dim : shape) {
    if (dim <= 0) {
      return Fail(input_desc + " has a dynamic dimension; export the MINDIR at a fixed tile shape");
    }
  }
  const std::size_t input_bytes = input.DataSize();
  if (input_bytes == 0 || input_bytes != static_cast<std::size_t>(input.ElementNum()) * sizeof(float)) {
    return Fail(input_desc + " reports " + std::to_string(input_bytes) + " bytes for " +
                std::to_string(input.ElementNum()) + " float32 elements");
  }
  std::cout << input_desc << ": " << input_bytes << " bytes per tile, " << files.size() << " tile(s)" << std::endl;

  // Every tile must match before anything runs.
  for (const std::string &file : files) {
    std::uintmax_t size = 0;
    if (!smartassign::FileSize(file, &size, &err)) {
      return Fail(err);
    }
    if (size != input_bytes) {
      return Fail("input " + file + " has " + std::to_string(size) + " bytes but " + input_desc + " needs " +
                  std::to_string(input_bytes) + " bytes (a float32 NCHW tile of that shape)");
    }
  }

  // 4. One Predict per tile.
  double total_ms = 0.0;
  for (const std::string &file : files) {
    void *dst = input.MutableData();
    if (dst == nullptr) {
      return Fail("MSTensor::MutableData returned no buffer for " + input_desc + " while loading " + file);
    }
    if (!smartassign::ReadFileInto(file, dst, input_bytes, &err)) {
      return Fail(err);
    }
    std::vector<mindspore::MSTensor> outputs;
    const auto start = std::chrono::steady_clock::now();
    const mindspore::Status predict_status = model.Predict(inputs, &outputs);
    const auto stop = std::chrono::steady_clock::now();
    if (predict_status != mindspore::kSuccess) {
      return Fail("Model::Predict failed for " + file + " " + DescribeStatus(predict_status));
    }
    if (outputs.empty()) {
      return Fail("Model::Predict returned no outputs for " + file);
    }
    const double ms = std::chrono::duration<double, std::milli>(stop - start).count();
    total_ms += ms;

    const std::string stem = smartassign::FileStem(file);
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      const std::size_t bytes = outputs[i].DataSize();
      const std::shared_ptr<const void> data = outputs[i].Data();
      if (data == nullptr && bytes > 0) {
        return Fail("output " + std::to_string(i) + " of " + file + " has no host data");
      }
      const std::string out_path = smartassign::JoinPath(opts.result_dir, stem + "_" + std::to_string(i) + ".bin");
      if (!smartassign::WriteFileBytes(out_path, data.get(), bytes, &err)) {
        return Fail(err);
      }
    }
    std::cout << "tile " << file << ": " << std::fixed << std::setprecision(3) << ms << " ms, " << outputs.size()
              << " output(s)" << std::endl;
  }

  // 5. Timing summary.
  std::ostringstream summary;
  summary << "NN inference cost average time: " << std::fixed << std::setprecision(3)
          << total_ms / static_cast<double>(files.size()) << " ms of infer_count " << files.size();
  std::cout << summary.str() << std::endl;
  const std::string time_file = smartassign::JoinPath(opts.time_dir, "test_perform_static.txt");
  const std::string line = summary.str() + "\n";
  if (!smartassign::WriteFileBytes(time_file, line.data(), line.size(), &err)) {
    return Fail(err);
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  const std::string prog = argc > 0 ? argv[0] : "main";
  Options opts;
  std::string err;
  switch (smartassign::ParseArgs(argc, argv, &opts, &err)) {
    case smartassign::ParseResult::kHelp:
      std::cerr << smartassign::Usage(prog);
      return kExitUsage;
    case smartassign::ParseResult::kError:
      std::cerr << "error: " << err << "\n" << smartassign::Usage(prog);
      return kExitUsage;
    case smartassign::ParseResult::kOk:
      break;
  }
  try {
    return Run(opts);
  } catch (const std::exception &e) {
    return Fail(std::string("unexpected exception: ") + e.what());
  }
}
