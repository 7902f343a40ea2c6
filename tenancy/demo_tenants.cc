// The demo tenants, compiled in so `parkd --demo` needs no file next to the binary.
#include "tenancy/tenants_file.h"

namespace parkd::tenancy {

std::string_view demo_tenants_json() {
  static constexpr std::string_view json =
#include "tenancy/demo_tenants.inc"
      ;
  return json;
}

}  // namespace parkd::tenancy
