// A small pool of CPU buffers for the masked-difference backward's gradients, reused across calls.
//
// Why: CPU torch has no caching allocator. A fresh multi-megabyte gradient lands on pages the kernel has never
// touched (glibc returns large blocks to the OS on free), so the first write to each 4 KiB page faults and the
// kernel zero-fills it. Measured on the backward of 8x3x256x256 with 4 links: ~3,700 faults and a third of the
// time; on 4x3x1024x1024, ~37,000 faults per call. The regularizer calls the op with the same shapes at every
// link step, so keeping the last few gradient buffers alive removes that cost (as the CUDA caching allocator
// does on GPUs).
//
// Safety: the pool holds one reference to each buffer's storage and hands a buffer out again only when that
// reference is the only one left (`use_count() == 1`): no tensor, view or .grad that saw the previous call's
// gradient can still reach it. Buffers are matched by byte size and dtype. Bounded: at most kMaxBuffers
// buffers and kMaxTotalBytes in all (least recently used free ones are dropped first to make room; a buffer
// that does not fit is simply not pooled), none below kMinBytes (small buffers fault little).
// Thread-safe. LINKGAN_CPU_GRAD_POOL=0 in the environment turns the pool off (every call allocates).

#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/Storage.h>
#include <c10/core/TensorImpl.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace linkgan {

class GradBufferPool {
public:
    static constexpr size_t kMaxBuffers = 8;            // Two calls' worth (x, x1, x2 gradients) with room to spare.
    static constexpr size_t kMinBytes = size_t(1) << 20;
    static constexpr size_t kMaxTotalBytes = size_t(2) << 30;

    // A contiguous tensor of `sizes` with `options` (uninitialised, like at::empty).
    at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
        int64_t numel = 1;
        for (int64_t s : sizes) numel *= s;
        const size_t nbytes = size_t(numel) * options.dtype().itemsize();
        if (!enabled() || nbytes < kMinBytes) return at::empty(sizes, options);
        std::lock_guard<std::mutex> lock(mutex_);
        ++clock_;
        for (Entry& e : entries_) {
            if (e.storage.use_count() == 1 && e.storage.nbytes() == nbytes && e.dtype == options.dtype()) {
                e.last_used = clock_;
                return wrap(e.storage, sizes, options);
            }
        }
        at::Tensor fresh = at::empty(sizes, options);
        while ((entries_.size() >= kMaxBuffers || total_bytes() + nbytes > kMaxTotalBytes) && evict_one_free()) {
        }
        if (entries_.size() < kMaxBuffers && total_bytes() + nbytes <= kMaxTotalBytes)
            entries_.push_back({fresh.storage(), options.dtype(), clock_});
        return fresh;
    }

private:
    struct Entry {
        c10::Storage storage;
        caffe2::TypeMeta dtype;
        uint64_t last_used;
    };

    static bool enabled() {
        static const bool on = [] {
            const char* v = std::getenv("LINKGAN_CPU_GRAD_POOL");
            return !(v && std::strcmp(v, "0") == 0);
        }();
        return on;
    }

    static at::Tensor wrap(const c10::Storage& storage, at::IntArrayRef sizes, const at::TensorOptions& options) {
        at::Tensor t = at::detail::make_tensor<c10::TensorImpl>(c10::Storage(storage), c10::DispatchKeySet(c10::DispatchKey::CPU),
                                                                options.dtype());
        t.unsafeGetTensorImpl()->set_sizes_contiguous(sizes);
        return t;
    }

    size_t total_bytes() const {
        size_t total = 0;
        for (const Entry& e : entries_) total += e.storage.nbytes();
        return total;
    }

    // Drops the least recently used buffer nobody else holds; false when every buffer is in use.
    bool evict_one_free() {
        size_t victim = entries_.size();
        for (size_t i = 0; i < entries_.size(); i++)
            if (entries_[i].storage.use_count() == 1 && (victim == entries_.size() || entries_[i].last_used < entries_[victim].last_used))
                victim = i;
        if (victim == entries_.size()) return false;
        entries_.erase(entries_.begin() + victim);
        return true;
    }

    std::mutex mutex_;
    std::vector<Entry> entries_;
    uint64_t clock_ = 0;
};

} // namespace linkgan
