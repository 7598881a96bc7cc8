// sentencepiece_model.hpp — the parts of a SentencePiece tokenizer.model that a
// GGUF vocabulary needs, read with a minimal, bounds-checked protobuf decoder.
//
// tokenizer.model is a serialized sentencepiece.ModelProto (proto2). Fields
// read (numbers from sentencepiece_model.proto, the format's specification):
//   ModelProto:   1 pieces (repeated SentencePiece), 2 trainer_spec (TrainerSpec)
//   SentencePiece: 1 piece (string), 2 score (float), 3 type (enum, default NORMAL=1)
//   TrainerSpec:  3 model_type (UNIGRAM=1, BPE=2, WORD=3, CHAR=4), 35 byte_fallback,
//                 40 unk_id (default 0), 41 bos_id (1), 42 eos_id (2), 43 pad_id (-1)
// Every other field is skipped by wire type. The decoder checks each length
// against the bytes left, so a truncated or hostile file is an error, never a
// read out of bounds; the work is linear in the file size.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/core/status.hpp>
#include <lowbit/core/views.hpp>

namespace lbq {

// SentencePiece's piece types; the values are also GGUF's token types.
enum class piece_type : std::int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct sp_piece {
    std::string text;
    float score = 0.0f;
    piece_type type = piece_type::normal;
};

struct sp_model {
    std::vector<sp_piece> pieces;
    std::int32_t model_type = 1;  // UNIGRAM unless the trainer spec says otherwise
    bool byte_fallback = false;
    std::int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
};

namespace detail {

// One protobuf message's bytes, read front to back.
class pb_reader {
public:
    pb_reader(const std::uint8_t* p, std::size_t n, std::size_t base) : p_(p), n_(n), base_(base) {}

    bool done() const { return pos_ >= n_; }
    std::size_t offset() const { return base_ + pos_; }

    lowbit::status varint(std::uint64_t* v) {
        std::uint64_t x = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= n_) return fail("truncated varint");
            const std::uint8_t b = p_[pos_++];
            x |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) {
                *v = x;
                return lowbit::status();
            }
        }
        return fail("varint longer than 10 bytes");
    }
    // A field key: field number and wire type.
    lowbit::status key(std::uint32_t* field, std::uint32_t* wire) {
        std::uint64_t k = 0;
        LOWBIT_TRY(varint(&k));
        *field = static_cast<std::uint32_t>(k >> 3);
        *wire = static_cast<std::uint32_t>(k & 7);
        if (*field == 0 || k >> 3 > 0x1fffffff) return fail("invalid field number");
        return lowbit::status();
    }
    // A length-delimited field's bytes.
    lowbit::status bytes(const std::uint8_t** p, std::size_t* n) {
        std::uint64_t len = 0;
        LOWBIT_TRY(varint(&len));
        if (len > n_ - pos_) return fail("length runs past the end of its message");
        *p = p_ + pos_;
        *n = static_cast<std::size_t>(len);
        pos_ += static_cast<std::size_t>(len);
        return lowbit::status();
    }
    lowbit::status fixed32(std::uint32_t* v) {
        if (n_ - pos_ < 4) return fail("truncated 32-bit field");
        *v = static_cast<std::uint32_t>(p_[pos_]) | static_cast<std::uint32_t>(p_[pos_ + 1]) << 8 |
             static_cast<std::uint32_t>(p_[pos_ + 2]) << 16 | static_cast<std::uint32_t>(p_[pos_ + 3]) << 24;
        pos_ += 4;
        return lowbit::status();
    }
    lowbit::status skip(std::uint32_t wire) {
        std::uint64_t v = 0;
        const std::uint8_t* p = nullptr;
        std::size_t n = 0;
        switch (wire) {
            case 0: return varint(&v);
            case 1:
                if (n_ - pos_ < 8) return fail("truncated 64-bit field");
                pos_ += 8;
                return lowbit::status();
            case 2: return bytes(&p, &n);
            case 5: {
                std::uint32_t x = 0;
                return fixed32(&x);
            }
            default: return fail("unsupported wire type (groups or invalid)");
        }
    }
    lowbit::status expect(std::uint32_t wire, std::uint32_t want, const char* field) {
        if (wire == want) return lowbit::status();
        return lowbit::status::error(lowbit::errc::corrupt_data, "tokenizer.model: field %s has wire type %u, expected %u at byte %zu",
                                     field, wire, want, offset());
    }
    lowbit::status fail(const char* what) const {
        return lowbit::status::error(lowbit::errc::corrupt_data, "tokenizer.model: %s at byte %zu", what, offset());
    }

private:
    const std::uint8_t* p_;
    std::size_t n_, base_, pos_ = 0;
};

// int32 fields are encoded as the varint of their sign-extended 64-bit value.
inline std::int32_t as_int32(std::uint64_t v) { return static_cast<std::int32_t>(static_cast<std::uint32_t>(v)); }

inline lowbit::status read_piece(const std::uint8_t* p, std::size_t n, std::size_t base, sp_piece* out) {
    pb_reader r(p, n, base);
    while (!r.done()) {
        std::uint32_t f = 0, w = 0;
        LOWBIT_TRY(r.key(&f, &w));
        if (f == 1) {
            LOWBIT_TRY(r.expect(w, 2, "SentencePiece.piece"));
            const std::uint8_t* s = nullptr;
            std::size_t len = 0;
            LOWBIT_TRY(r.bytes(&s, &len));
            out->text.assign(reinterpret_cast<const char*>(s), len);
        } else if (f == 2) {
            LOWBIT_TRY(r.expect(w, 5, "SentencePiece.score"));
            std::uint32_t bits = 0;
            LOWBIT_TRY(r.fixed32(&bits));
            std::memcpy(&out->score, &bits, 4);
        } else if (f == 3) {
            LOWBIT_TRY(r.expect(w, 0, "SentencePiece.type"));
            std::uint64_t v = 0;
            LOWBIT_TRY(r.varint(&v));
            const std::int32_t t = as_int32(v);
            if (t < 1 || t > 6) return r.fail("SentencePiece.type is not one of NORMAL..BYTE (1..6)");
            out->type = static_cast<piece_type>(t);
        } else {
            LOWBIT_TRY(r.skip(w));
        }
    }
    return lowbit::status();
}

inline lowbit::status read_trainer_spec(const std::uint8_t* p, std::size_t n, std::size_t base, sp_model* out) {
    pb_reader r(p, n, base);
    while (!r.done()) {
        std::uint32_t f = 0, w = 0;
        LOWBIT_TRY(r.key(&f, &w));
        std::int32_t* target = nullptr;
        switch (f) {
            case 3: target = &out->model_type; break;
            case 40: target = &out->unk_id; break;
            case 41: target = &out->bos_id; break;
            case 42: target = &out->eos_id; break;
            case 43: target = &out->pad_id; break;
            default: break;
        }
        if (target || f == 35) {
            LOWBIT_TRY(r.expect(w, 0, "TrainerSpec integer"));
            std::uint64_t v = 0;
            LOWBIT_TRY(r.varint(&v));
            if (target) *target = as_int32(v);
            else out->byte_fallback = v != 0;
        } else {
            LOWBIT_TRY(r.skip(w));
        }
    }
    return lowbit::status();
}

// The number of ModelProto.pieces fields, so that the pieces are stored in
// one allocation of exactly that size: growing by doubling would hold up to
// three times their size at a reallocation (docs/reliability.md bounds this
// reader's memory per input byte). Errors are left to the reading pass.
inline std::size_t count_pieces(lowbit::span<const std::uint8_t> b) {
    pb_reader r(b.data(), b.size(), 0);
    std::size_t n = 0;
    while (!r.done()) {
        std::uint32_t f = 0, w = 0;
        if (!r.key(&f, &w).ok() || !r.skip(w).ok()) break;
        n += f == 1 && w == 2;
    }
    return n;
}

}  // namespace detail

inline lowbit::status read_sentencepiece_model(lowbit::span<const std::uint8_t> b, sp_model* out) {
    *out = sp_model{};
    out->pieces.reserve(detail::count_pieces(b));
    detail::pb_reader r(b.data(), b.size(), 0);
    while (!r.done()) {
        std::uint32_t f = 0, w = 0;
        LOWBIT_TRY(r.key(&f, &w));
        if (f == 1 || f == 2) {
            LOWBIT_TRY(r.expect(w, 2, f == 1 ? "ModelProto.pieces" : "ModelProto.trainer_spec"));
            const std::size_t at = r.offset();
            const std::uint8_t* p = nullptr;
            std::size_t n = 0;
            LOWBIT_TRY(r.bytes(&p, &n));
            const std::size_t base = at + (r.offset() - at - n);  // the submessage's first byte
            if (f == 1) {
                out->pieces.emplace_back();
                LOWBIT_TRY(detail::read_piece(p, n, base, &out->pieces.back()));
            } else {
                LOWBIT_TRY(detail::read_trainer_spec(p, n, base, out));
            }
        } else {
            LOWBIT_TRY(r.skip(w));
        }
    }
    if (out->pieces.empty()) return lowbit::status::error(lowbit::errc::corrupt_data, "tokenizer.model: no pieces (not a SentencePiece model?)");
    return lowbit::status();
}

}  // namespace lbq
