#include "tools/loadgen/run.h"

#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tools/loadgen/engine.h"
#include "tools/loadgen/scenario.h"
#include "tools/loadgen/users.h"

namespace parkd::loadgen {
namespace {

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Worker {
  std::unique_ptr<Scenario> scenario;
  std::unique_ptr<Engine> engine;
  LiveCounters live;
  SetupResult setup;
};

}  // namespace

RunResult run_load(const Config& config, const std::atomic<bool>& stop,
                   const std::function<void(const IntervalSample&)>& on_interval) {
  RunResult result;
  UserSource users;
  bool users_ok = config.users_path.empty()
                      ? users.set_patterns(config.domains, config.extensions, config.password_pattern, result.error)
                      : users.load_csv(config.users_path, result.error);
  if (!users_ok) return result;

  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t t = 0; t < config.threads; ++t) {
    auto w = std::make_unique<Worker>();
    w->scenario = make_scenario(config.scenario);
    if (w->scenario == nullptr) {
      result.error = "unknown scenario '" + config.scenario + "'";
      return result;
    }
    w->engine = std::make_unique<Engine>(config, users, *w->scenario, t);
    workers.push_back(std::move(w));
  }

  // Each engine sets up on its own thread (its ring is single-issuer), then all start together.
  std::mutex mutex;
  std::condition_variable changed;
  uint32_t ready = 0;
  uint32_t finished = 0;
  bool go = false;
  double cpu_start = 0;
  std::chrono::steady_clock::time_point wall_start;
  std::vector<std::thread> threads;
  threads.reserve(workers.size());
  for (auto& w : workers) {
    threads.emplace_back([&, worker = w.get()] {
      worker->setup = worker->engine->setup();
      if (worker->setup.ok) worker->engine->setup_devices();  // before the clock starts
      {
        std::unique_lock lock(mutex);
        ++ready;
        changed.notify_all();
        changed.wait(lock, [&] { return go; });
      }
      if (worker->setup.ok) worker->engine->run(stop, &worker->live);
      std::lock_guard lock(mutex);
      ++finished;
      changed.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return ready == workers.size(); });
    bool all_ok = true;
    for (auto& w : workers) all_ok = all_ok && w->setup.ok;
    if (!all_ok) {
      for (auto& w : workers) w->setup.ok = false;  // nobody runs
    }
    cpu_start = cpu_seconds();
    wall_start = std::chrono::steady_clock::now();
    go = true;
    changed.notify_all();
  }
  {
    std::unique_lock lock(mutex);
    auto interval = std::chrono::duration<double>(config.interval_s);
    auto next = wall_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
    uint64_t last_completed = 0;
    while (finished < workers.size()) {
      if (!on_interval || config.interval_s <= 0) {
        changed.wait(lock, [&] { return finished == workers.size(); });
        break;
      }
      if (changed.wait_until(lock, next, [&] { return finished == workers.size(); })) break;
      IntervalSample sample;
      for (auto& w : workers) {
        sample.started += w->live.started.load(std::memory_order_relaxed);
        sample.completed += w->live.completed.load(std::memory_order_relaxed);
        sample.failed += w->live.failed.load(std::memory_order_relaxed);
        sample.lost += w->live.lost.load(std::memory_order_relaxed);
      }
      sample.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
      sample.completed_per_s = static_cast<double>(sample.completed - last_completed) / config.interval_s;
      last_completed = sample.completed;
      next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
      lock.unlock();
      on_interval(sample);
      lock.lock();
    }
  }
  for (std::thread& t : threads) t.join();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  double cpu = cpu_seconds() - cpu_start;

  for (auto& w : workers) {
    if (!w->setup.error.empty()) {
      result.error = w->setup.error;
      result.io_uring_unavailable = w->setup.io_uring_unavailable;
      return result;
    }
  }
  result.report.scenario = config.scenario;
  for (auto& w : workers) result.report.stats.merge(w->engine->stats());
  result.report.elapsed_s = wall;
  result.report.cpu_s = cpu;
  result.ok = true;
  return result;
}

}  // namespace parkd::loadgen
