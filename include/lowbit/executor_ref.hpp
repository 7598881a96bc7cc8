// lowbit/executor_ref.hpp — a non-owning, type-erased reference to an executor
// (parallel.hpp's concept), so that a function compiled once in
// lowbit::compiled runs on whatever executor its caller passes.
#pragma once

#include <cstddef>
#include <type_traits>

#include "parallel.hpp"

namespace lowbit {

class executor_ref {
public:
    template <class E, class = std::enable_if_t<!std::is_same<std::decay_t<E>, executor_ref>::value>>
    explicit executor_ref(E& e) noexcept
        : obj_(const_cast<void*>(static_cast<const void*>(&e))), run_(&run<E>),
          concurrency_(executor_concurrency<std::remove_const_t<E>>::get(e)) {}

    template <class F>
    void operator()(std::size_t n_tasks, F&& fn) const {
        using Fn = std::remove_reference_t<F>;
        run_(obj_, n_tasks, const_cast<void*>(static_cast<const void*>(&fn)),
             [](void* f, std::size_t t) { (*static_cast<Fn*>(f))(t); });
    }
    unsigned concurrency() const noexcept { return concurrency_; }

private:
    using task_fn = void (*)(void*, std::size_t);
    template <class E>
    static void run(void* obj, std::size_t n_tasks, void* f, task_fn call) {
        (*static_cast<E*>(obj))(n_tasks, [f, call](std::size_t t) { call(f, t); });
    }
    void* obj_;
    void (*run_)(void*, std::size_t, void*, task_fn);
    unsigned concurrency_;
};

}  // namespace lowbit
