// Counts heap allocations made through the global operator new, for tests that promise "no allocation".
//
// Linking this file replaces the global operator new/delete of the test executable (they forward to malloc and
// free and count every allocation, on every thread). It is pulled into an executable only when a test calls
// allocation_count(), so executables that do not use it keep the default operators.
#pragma once

#include <cstdint>

namespace parkd::test {

// Allocations made through operator new (any form) since the program started.
uint64_t allocation_count();

}  // namespace parkd::test
