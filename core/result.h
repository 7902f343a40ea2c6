// Result<T, E>: a value or an error, for the data plane where exceptions are not used.
//
// g++ 12 only has std::expected in C++23 mode; this is the small subset parkd needs. E is normally an enum
// whose values name the fault (see sip/errors.h). Accessing value() of an error, or error() of a value, is a
// programming error caught by assert in debug builds.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace parkd {

template <class E>
struct Unexpected {
  E error;
};
template <class E>
Unexpected(E) -> Unexpected<E>;

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Unexpected<E> e) : storage_(std::in_place_index<1>, e.error) {}   // NOLINT(google-explicit-constructor)

  bool ok() const { return storage_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return *std::get_if<0>(&storage_);
  }
  const T& value() const& {
    assert(ok());
    return *std::get_if<0>(&storage_);
  }
  T&& value() && {
    assert(ok());
    return std::move(*std::get_if<0>(&storage_));
  }
  E error() const {
    assert(!ok());
    return *std::get_if<1>(&storage_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> storage_;
};

}  // namespace parkd
