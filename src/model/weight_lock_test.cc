// --mlock: the resident weights end up in VmLck, exactly the page-rounded bytes
// the lock reports; streamed layers are not locked; and a refused lock (no
// CAP_IPC_LOCK, RLIMIT_MEMLOCK 0, in a child process) leaves nothing locked and
// says how many bytes, the limit and the fix.
#include "model/weight_lock.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "model/weights.h"
#include "util/test_util.h"

namespace septet::model {
namespace {

constexpr char kStories[] = "models/stories260K/stories260K.bin";

// AddressSanitizer intercepts mlock / munlock and makes them succeed without
// locking anything, so VmLck cannot be checked in a sanitizer build.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMlockIntercepted = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kMlockIntercepted = true;
#else
constexpr bool kMlockIntercepted = false;
#endif
#else
constexpr bool kMlockIntercepted = false;
#endif

// VmLck of this process in bytes.
uint64_t VmLck() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmLck:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

std::unique_ptr<LlamaModel> Stories() {
  ModelOptions o;
  o.repack = false;  // mapped weights, as under --mem-budget
  auto m = LlamaModel::Load(testing::SharedFile(kStories), o);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

TEST(WeightLockTest, LocksTheResidentWeightsOnly) {
  if (kMlockIntercepted) GTEST_SKIP() << "AddressSanitizer's mlock locks nothing";
  auto m = Stories();
  ASSERT_NE(m, nullptr);
  const uint64_t before = VmLck();
  uint64_t all = 0, some = 0;
  {
    auto lock = WeightLock::Lock(*m, {}, 0);
    if (!lock->warning().empty() && lock->locked_bytes() == 0) {
      GTEST_SKIP() << "this process may not lock memory (needs CAP_IPC_LOCK or RLIMIT_MEMLOCK): " << lock->warning();
    }
    ASSERT_TRUE(lock->warning().empty()) << lock->warning();
    all = lock->locked_bytes();
    EXPECT_EQ(lock->requested_bytes(), all);
    EXPECT_EQ(VmLck() - before, all);
    // At least every tensor's bytes (pages shared by neighbours count once).
    EXPECT_GE(all, m->file().TensorBytes());
    EXPECT_LT(all, m->file().TensorBytes() + 64 * 4096);
  }
  EXPECT_EQ(VmLck(), before);  // the destructor unlocks
  {
    auto lock = WeightLock::Lock(*m, {1, 3}, 0);  // two of five layers streamed
    some = lock->locked_bytes();
    EXPECT_EQ(VmLck() - before, some);
  }
  // Two 177.5 KiB layers fewer, give or take the pages they share with their
  // neighbours: llama2.c files store each kind of tensor for every layer in a row,
  // so each of a layer's 9 tensors can share a page at either end.
  EXPECT_NEAR(static_cast<double>(all - some), 2.0 * 181760, 2.0 * 9 * 2 * 4096);
}

// Drops CAP_IPC_LOCK from the effective set, so that RLIMIT_MEMLOCK applies even to root.
bool DropCapIpcLock() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
  data[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
  return ::syscall(SYS_capset, &header, data) == 0;
}

void LockUnderAZeroLimit(const LlamaModel& m) {
  if (!DropCapIpcLock()) std::_Exit(3);
  const rlimit zero{0, 0};
  if (::setrlimit(RLIMIT_MEMLOCK, &zero) != 0) std::_Exit(4);
  auto lock = WeightLock::Lock(m, {}, 0);
  std::fprintf(stderr, "locked %llu VmLck %llu: %s\n", static_cast<unsigned long long>(lock->locked_bytes()),
               static_cast<unsigned long long>(VmLck()), lock->warning().c_str());
  std::_Exit(lock->warning().empty() ? 1 : 0);
}

TEST(WeightLockDeathTest, RefusedLockWarnsWithTheNumbersAndLocksNothing) {
  if (kMlockIntercepted) GTEST_SKIP() << "AddressSanitizer's mlock never fails";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto m = Stories();
  ASSERT_NE(m, nullptr);
  EXPECT_EXIT(LockUnderAZeroLimit(*m), ::testing::ExitedWithCode(0),
              "locked 0 VmLck 0: --mlock: could not lock [0-9]+ bytes .* of resident weights \\(mlock: .*; "
              "RLIMIT_MEMLOCK 0 bytes .*, no CAP_IPC_LOCK\\): raise the limit \\(ulimit -l .*CAP_IPC_LOCK; "
              "continuing unlocked");
}

}  // namespace
}  // namespace septet::model
