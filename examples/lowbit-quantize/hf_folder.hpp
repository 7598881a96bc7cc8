// hf_folder.hpp — a Hugging Face model folder opened for reading: config.json
// and the other small JSON/tokenizer files on request, and the weights of
// model.safetensors or of the shards a model.safetensors.index.json names,
// each shard mmap'd and listed, tensor by tensor, in the order llama.cpp's
// convert_hf_to_gguf.py visits them (shards sorted by file name; within a
// shard, tensors sorted by name).
//
// Nothing is read whole but the small files; the shards stay mapped and the
// converter hands their pages back as it goes (files.hpp), so memory is
// bounded by the tensor in flight, not by the model.
#pragma once

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <lowbit/formats/imported_qmatrix.hpp>
#include <lowbit/formats/safetensors.hpp>

#include "files.hpp"
#include "hf_json.hpp"
#include "names.hpp"

namespace lbq {

namespace st = lowbit::safetensors;

struct hf_tensor {
    const st::tensor_info* info = nullptr;  // name, dtype, shape, bytes (in its shard's mapping)
    std::size_t shard = 0;
    // A weight read from a quantized checkpoint (quantized_checkpoint.hpp):
    // `info` is then an F32 [N, K] description with no bytes, the values come
    // from here, dequantized a row at a time.
    std::shared_ptr<const lowbit::checkpoint::imported_qmatrix> imported;
    // Its bytes in lowbit's layout (set with `imported`, or alone by --dry-run,
    // which reads only the headers).
    std::optional<lowbit::checkpoint::imported_footprint> footprint;
};

class hf_folder {
public:
    // Files larger than this are not "small" JSON or tokenizer files: real
    // tokenizer.json files are tens of MB at most, and a JSON tree costs up to
    // 160 bytes per byte of text (docs/reliability.md), so the cap bounds what
    // a hostile folder can make the tool hold.
    static constexpr std::size_t max_small_file = std::size_t(1) << 27;

    static bool is_dir(const std::string& path) {
        struct stat s;
        return ::stat(path.c_str(), &s) == 0 && S_ISDIR(s.st_mode);
    }

    status open(const std::string& dir) {
        dir_ = dir;
        while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
        if (!is_dir(dir_)) return status::error(errc::io_error, "not a directory");
        if (!has("config.json")) return status::error(errc::invalid_argument, "no config.json: not a Hugging Face model folder");
        LOWBIT_TRY(read_json("config.json", &config_));
        if (!config_.is(json_value::kind::object)) return status::error(errc::corrupt_data, "config.json is not a JSON object");
        return open_weights();
    }

    const std::string& path() const { return dir_; }
    // The folder's own name (for general.name).
    std::string base_name() const {
        const std::size_t s = dir_.rfind('/');
        return s == std::string::npos ? dir_ : dir_.substr(s + 1);
    }
    const json_value& config() const { return config_; }
    const std::vector<hf_tensor>& tensors() const { return tensors_; }
    std::size_t shard_count() const { return files_.size(); }
    const input_file& shard_file(std::size_t i) const { return *files_[i]; }
    // Keeps bytes made from the folder (a generated tensor) alive as long as it.
    const std::uint8_t* keep(std::vector<std::uint8_t> b) {
        kept_.push_back(std::make_unique<std::vector<std::uint8_t>>(std::move(b)));
        return kept_.back()->data();
    }
    const std::string& shard_name(std::size_t i) const { return shard_names_[i]; }
    // Replaces the tensor list (quantized_checkpoint.hpp: the packed parts of a
    // quantized linear become one imported weight); `own` keeps a description alive.
    void replace_tensors(std::vector<hf_tensor> ts) { tensors_ = std::move(ts); }
    const st::tensor_info* own(st::tensor_info t) {
        owned_.push_back(std::make_unique<st::tensor_info>(std::move(t)));
        return owned_.back().get();
    }

    bool has(const std::string& name) const {
        struct stat s;
        return ::stat((dir_ + "/" + name).c_str(), &s) == 0 && S_ISREG(s.st_mode);
    }

    status read_bytes(const std::string& name, std::vector<std::uint8_t>* out) const {
        input_file f;
        if (status s = f.open(dir_ + "/" + name, read_once()); !s.ok())
            return status::error(s.code(), "%.60s: %.120s", name.c_str(), s.message());
        if (f.bytes().size() > max_small_file)
            return status::error(errc::unsupported, "%.60s is %zu bytes; more than the %zu read for a metadata file", name.c_str(),
                                 f.bytes().size(), max_small_file);
        out->assign(f.bytes().begin(), f.bytes().end());
        return status();
    }

    status read_json(const std::string& name, json_value* out) const {
        std::vector<std::uint8_t> b;
        LOWBIT_TRY(read_bytes(name, &b));
        const status s = parse_json(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), out);
        if (!s.ok()) return status::error(s.code(), "%.60s: %.120s", name.c_str(), s.message());
        return status();
    }

    // A shard name from the index must be a plain file name in this folder:
    // no directory part ("../x", "/etc/passwd", "sub/x"), no NUL or control
    // bytes (they would reach file names and terminals). Symlinks inside the
    // folder are followed (a Hugging Face cache snapshot is all symlinks into
    // ../../blobs), but only to regular files (has()).
    static bool plain_file_name(const std::string& s) {
        if (s.empty() || s == "." || s == ".." || s.size() > 255) return false;
        for (char c : s)
            if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
        return true;
    }

    // model.safetensors.index.json's "weight_map" as tensor -> shard, and the
    // shards it names, sorted and unique. Reads nothing but `idx`.
    static status read_weight_map(const json_value& idx, std::map<std::string, std::string>* weight_map,
                                  std::vector<std::string>* parts) {
        const json_value* wm = idx.find("weight_map");
        if (!wm || !wm->is(json_value::kind::object))
            return status::error(errc::corrupt_data, "model.safetensors.index.json has no \"weight_map\" object");
        for (const auto& kv : wm->members) {
            if (!kv.second.str() || !plain_file_name(kv.second.text))
                return status::error(errc::corrupt_data, "model.safetensors.index.json: tensor '%s' maps to an invalid file name",
                                     printable(kv.first, 40).c_str());
            (*weight_map)[kv.first] = kv.second.text;
            parts->push_back(kv.second.text);
        }
        std::sort(parts->begin(), parts->end());
        parts->erase(std::unique(parts->begin(), parts->end()), parts->end());
        return status();
    }

private:
    std::vector<std::string> list_files() const {
        std::vector<std::string> names;
        if (DIR* d = ::opendir(dir_.c_str())) {
            while (const dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
            ::closedir(d);
        }
        std::sort(names.begin(), names.end());
        return names;
    }

    static bool ends_with(const std::string& s, const std::string& suffix) {
        return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
    }

    // "model-00002-of-00003.safetensors" -> 3; 0 when the name has another form.
    static unsigned long shard_total(const std::string& name) {
        const std::size_t of = name.rfind("-of-");
        if (name.rfind("model-", 0) != 0 || of == std::string::npos || !ends_with(name, ".safetensors")) return 0;
        const std::string n = name.substr(of + 4, name.size() - of - 4 - 12);
        if (n.empty() || n.size() > 6 || n.find_first_not_of("0123456789") != std::string::npos) return 0;
        return std::stoul(n);
    }

    status open_weights() {
        std::vector<std::string> parts;
        std::map<std::string, std::string> weight_map;  // tensor -> shard, when there is an index
        const bool indexed = has("model.safetensors.index.json");
        if (indexed) {
            json_value idx;
            LOWBIT_TRY(read_json("model.safetensors.index.json", &idx));
            LOWBIT_TRY(read_weight_map(idx, &weight_map, &parts));
            for (const std::string& p : parts)
                if (!has(p))
                    return status::error(errc::io_error, "shard %s named by model.safetensors.index.json is missing", printable(p, 40).c_str());
        } else {
            for (const std::string& n : list_files())
                if (n.rfind("model", 0) == 0 && ends_with(n, ".safetensors") && has(n)) parts.push_back(n);
            if (parts.empty()) {
                if (has("pytorch_model.bin") || has("pytorch_model.bin.index.json"))
                    return status::error(errc::unsupported, "PyTorch .bin weights are not supported; save the model as safetensors");
                return status::error(errc::invalid_argument, "no model.safetensors (or model-*-of-*.safetensors shards)");
            }
            // Shards without an index: the "-of-N" in their names says how many there must be.
            for (const std::string& p : parts) {
                const unsigned long total = shard_total(p);
                if (total != 0 && total != parts.size())
                    return status::error(errc::io_error, "%s says %lu shards but %zu model*.safetensors files are here", printable(p, 40).c_str(), total,
                                         parts.size());
            }
        }
        files_.clear();
        parsed_.clear();
        parsed_.reserve(parts.size());  // tensors_ points into parsed_: no reallocation after this
        std::map<std::string, std::size_t> seen;  // tensor -> shard
        for (std::size_t i = 0; i < parts.size(); ++i) {
            files_.push_back(std::make_unique<input_file>());
            if (status s = files_.back()->open(dir_ + "/" + parts[i], read_once()); !s.ok())
                return status::error(s.code(), "%s: %s", printable(parts[i], 40).c_str(), s.message());
            auto f = st::safetensors_file::parse(files_.back()->bytes());
            if (!f) return status::error(f.error().code(), "%s: %s", printable(parts[i], 40).c_str(), f.error().message());
            parsed_.push_back(std::move(*f));
            shard_names_.push_back(parts[i]);
            std::vector<const st::tensor_info*> here;
            for (const st::tensor_info& t : parsed_.back().tensors()) here.push_back(&t);
            std::sort(here.begin(), here.end(), [](const st::tensor_info* a, const st::tensor_info* b) { return a->name < b->name; });
            for (const st::tensor_info* t : here) {
                auto dup = seen.find(t->name);
                if (dup != seen.end())
                    return status::error(errc::corrupt_data, "tensor '%s' is in both %s and %s", printable(t->name, 40).c_str(),
                                         printable(parts[dup->second], 40).c_str(), printable(parts[i], 40).c_str());
                seen[t->name] = i;
                if (indexed) {
                    auto w = weight_map.find(t->name);
                    if (w == weight_map.end())
                        return status::error(errc::corrupt_data, "tensor '%s' in %s is not in model.safetensors.index.json",
                                             printable(t->name, 40).c_str(), printable(parts[i], 40).c_str());
                    if (w->second != parts[i])
                        return status::error(errc::corrupt_data, "tensor '%s' is in %s but the index puts it in %s",
                                             printable(t->name, 40).c_str(), printable(parts[i], 40).c_str(), printable(w->second, 40).c_str());
                }
                tensors_.push_back(hf_tensor{t, i, nullptr, std::nullopt});
            }
        }
        for (const auto& kv : weight_map)
            if (!seen.count(kv.first))
                return status::error(errc::corrupt_data, "tensor '%s' is missing from %s, where the index puts it", printable(kv.first, 40).c_str(),
                                     printable(kv.second, 40).c_str());
        return status();
    }

    std::string dir_;
    json_value config_;
    std::vector<std::unique_ptr<input_file>> files_;
    std::vector<st::safetensors_file> parsed_;
    std::vector<std::string> shard_names_;
    std::vector<hf_tensor> tensors_;
    std::vector<std::unique_ptr<std::vector<std::uint8_t>>> kept_;
    std::vector<std::unique_ptr<st::tensor_info>> owned_;  // descriptions of imported weights
};

}  // namespace lbq
