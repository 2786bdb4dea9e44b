#include <lowbit/csrc/deploy/model.h>

#include <lowbit/csrc/data/imagenet_pipelines.h>
#include <lowbit/csrc/data/jpeg.h>
#include <lowbit/csrc/util/files.h>

#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

namespace lowbit::deploy {
namespace deploy_model {  // named: unity builds join files

const LbmRecord& description_of(const std::vector<LbmRecord>& records, const std::string& source) {
  for (const auto& r : records) {
    if (r.name == kDescriptionRecord) {
      if (r.kind != LbmKind::Text) throw LbmError(source + ": record 'description' must be text");
      return r;
    }
  }
  throw LbmError(source + ": no 'description' record: not a model exported by `lowbit export`");
}

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    auto root = YAML::Load(text);
    if (!root.IsMap()) throw LbmError(source + ": the description is not a YAML mapping");
    return root;
  } catch (const YAML::Exception& e) {
    throw LbmError(source + ": the description is not valid YAML (line " + std::to_string(e.mark.line + 1) + ": " +
                   e.msg + ")");
  }
}

template <typename T>
T field(const YAML::Node& node, const std::string& key, const std::string& where, T fallback) {
  if (!node[key]) return fallback;
  try {
    return node[key].as<T>();
  } catch (const YAML::Exception&) {
    throw LbmError(where + ": '" + key + "' has the wrong type: " + YAML::Dump(node[key]));
  }
}

ModelInput read_input(const YAML::Node& node, const std::string& where) {
  if (!node || !node.IsMap()) throw LbmError(where + ": the description has no 'input' mapping");
  ModelInput in;
  in.channels = field(node, "channels", where, in.channels);
  in.height = field(node, "height", where, in.height);
  in.width = field(node, "width", where, in.width);
  in.pipeline = field(node, "pipeline", where, in.pipeline);
  in.interpolation = field(node, "interpolation", where, in.interpolation);
  in.crop_pct = field(node, "crop_pct", where, in.crop_pct);
  in.features = field(node, "features", where, in.features);
  if (in.features < 0) throw LbmError(where + ": features must be positive (or 0: images)");
  if (in.features > 0 && in.pipeline != "none") {
    throw LbmError(where + ": a model on features has no image pipeline, got '" + in.pipeline + "'");
  }
  if (in.channels < 1 || in.height < 1 || in.width < 1) {
    throw LbmError(where + ": channels, height and width must be positive");
  }
  if (in.pipeline != "none" && in.pipeline != "imagenet") {
    throw LbmError(where + ": pipeline must be none or imagenet, got '" + in.pipeline + "'");
  }
  if (in.pipeline == "imagenet" && (in.channels != 3 || in.height != in.width || !(in.crop_pct > 0 && in.crop_pct <= 1))) {
    throw LbmError(where + ": the imagenet pipeline needs 3 channels, a square size and crop_pct in (0, 1]");
  }
  data::parse_interpolation(in.interpolation);
  return in;
}

// Whether a description quantizes some input on a uniform grid: a layer with `KEY: uniform` and its
// `KEY_grid` (input, q_act, ...: layer_parts.h's InputQuantizer), at any depth.
bool uses_grids(const YAML::Node& node) {
  if (node.IsMap()) {
    for (const auto& entry : node) {
      const auto& value = entry.second;
      if (value.IsScalar() && value.Scalar() == "uniform" && node[entry.first.Scalar() + "_grid"]) return true;
      if (uses_grids(value)) return true;
    }
  }
  if (node.IsSequence()) {
    for (const auto& child : node) {
      if (uses_grids(child)) return true;
    }
  }
  return false;
}

}  // namespace deploy_model

Model Model::load(const std::string& path) {
  if (!util::file_exists(path)) throw LbmError(path + ": no such file");
  const auto text = util::read_file(path);
  return parse(std::vector<uint8_t>(text.begin(), text.end()), path);
}

Model Model::parse(const std::vector<uint8_t>& bytes, const std::string& source) {
  return from_records(parse_lbm(bytes.data(), bytes.size(), source), source);
}

Model Model::from_records(std::vector<LbmRecord> records, const std::string& source) {
  namespace d = deploy_model;
  const auto& text_record = d::description_of(records, source);
  Model m;
  m.source_ = source;
  m.description_.assign(text_record.payload.begin(), text_record.payload.end());
  const auto root = d::parse_yaml(m.description_, source);
  const auto format = d::field<std::string>(root, "format", source, "");
  const auto version = d::field<int64_t>(root, "version", source, 0);
  if (format != kDescriptionFormat || version != 1) {
    throw LbmError(source + ": description format '" + format + "' version " + std::to_string(version) +
                   ", this lowbit reads '" + kDescriptionFormat + "' version 1");
  }
  m.name_ = d::field<std::string>(root, "model", source, "");
  m.input_ = d::read_input(root["input"], source + ": input");
  Records by_name(std::move(records), source);
  m.float_convs_as_trained_ = d::uses_grids(root["layers"]);
  by_name.set_float_convs_as_trained(m.float_convs_as_trained_);
  try {
    m.layers_ = std::make_shared<const Layers>(make_layers(root["layers"], by_name, source + ": layers"));
  } catch (const c10::Error& e) {
    throw LbmError(source + ": " + e.what_without_backtrace());
  }
  if (m.layers_->empty()) throw LbmError(source + ": the description has no layers");
  by_name.check_all_used();
  return m;
}

at::Tensor Model::forward(const at::Tensor& input) const {
  at::NoGradGuard no_grad;
  if (input_.features > 0) {
    TORCH_CHECK((input.dim() == 2 || input.dim() == 3) && input.size(-1) == input_.features &&
                    at::isFloatingType(input.scalar_type()),
                source_, ": expected float features [N, ", input_.features, "] or tokens [B, N, ", input_.features,
                "], got ", input.scalar_type(), " ", input.sizes());
    return run_layers(*layers_, input.to(at::kFloat).contiguous());
  }
  TORCH_CHECK(input.dim() == 4 && input.size(1) == input_.channels && at::isFloatingType(input.scalar_type()),
              source_, ": expected float images [N, ", input_.channels, ", H, W], got ", input.scalar_type(), " ",
              input.sizes());
  const auto format = float_convs_as_trained_ ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast;
  return run_layers(*layers_, input.to(at::kFloat).contiguous(format));
}

at::Tensor Model::prepare_image(const std::string& path) const {
  if (input_.pipeline != "imagenet") {
    const auto shape = input_.features > 0 ? std::to_string(input_.features) + " features"
                                           : std::to_string(input_.channels) + "x" + std::to_string(input_.height) +
                                                 "x" + std::to_string(input_.width);
    throw LbmError(source_ + ": this model's input (" + shape +
                   ") has no image pipeline; pass tensors to Model::forward");
  }
  data::EvalPipeline pipeline;
  pipeline.interpolation = data::parse_interpolation(input_.interpolation);
  pipeline.crop_pct = input_.crop_pct;
  const auto image = data::decode_jpeg(path);  // full size, as the imagenet set decodes for evaluation
  return data::eval_pipeline(image, input_.height, pipeline);
}

}  // namespace lowbit::deploy
