// See system_metrics.h for what is reported and why.
#include "system_metrics.h"

#include <dlfcn.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "ggml-backend.h"

namespace pronto {

namespace {

// The few NVML entry points used, declared here (no NVML headers needed to build).
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned int gpu;
  unsigned int memory;
};
constexpr nvmlReturn_t kNvmlSuccess = 0;

struct Nvml {
  void* lib = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*count)(unsigned int*) = nullptr;
  nvmlReturn_t (*by_index)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*by_pci)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;

  // Loads libnvidia-ml.so.1 when the driver ships it; otherwise stays empty.
  Nvml() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    };
    sym(init, "nvmlInit_v2");
    sym(shutdown, "nvmlShutdown");
    sym(count, "nvmlDeviceGetCount_v2");
    sym(by_index, "nvmlDeviceGetHandleByIndex_v2");
    sym(by_pci, "nvmlDeviceGetHandleByPciBusId_v2");
    sym(utilization, "nvmlDeviceGetUtilizationRates");
    if (!init || !count || !by_index || !utilization || init() != kNvmlSuccess) {
      std::fprintf(stderr, "pronto-engine: libnvidia-ml.so.1 found but NVML did not initialise: no GPU utilisation\n");
      dlclose(lib);
      lib = nullptr;
    }
  }
  ~Nvml() {
    if (lib) {
      if (shutdown) shutdown();
      dlclose(lib);
    }
  }
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;
  bool loaded() const { return lib != nullptr; }

  // Utilisation (0..1) of the GPU at `pci_bus_id` (or the `ordinal`-th NVML device); -1 when unknown.
  double gpu_utilization(const char* pci_bus_id, unsigned int ordinal) const {
    if (!lib) return -1;
    nvmlDevice_t dev = nullptr;
    if (!(pci_bus_id && by_pci && by_pci(pci_bus_id, &dev) == kNvmlSuccess)) {
      unsigned int n = 0;
      if (count(&n) != kNvmlSuccess || ordinal >= n || by_index(ordinal, &dev) != kNvmlSuccess) return -1;
    }
    nvmlUtilization_t u{};
    if (utilization(dev, &u) != kNvmlSuccess) return -1;
    return u.gpu / 100.0;
  }
};

struct GpuFigures {
  std::string device, name;
  size_t free = 0, total = 0;
  double utilization = -1;
};

struct Figures {
  std::vector<GpuFigures> gpus;
  double cpu_seconds = -1;
  double rss_bytes = -1;
  double host_total = -1, host_available = -1;
  int cpus = 0;
};

double cpu_seconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  if (!(statm >> size >> resident)) return -1;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// MemTotal and MemAvailable from /proc/meminfo, in bytes (-1 when missing).
void host_memory(double& total, double& available) {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  double kb = 0;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemTotal:") total = kb * 1024;
    if (key == "MemAvailable:") available = kb * 1024;
  }
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 0;
}

// Prometheus label values escape backslash, double quote and line feed.
std::string label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

class SystemMetrics {
 public:
  void render(std::ostringstream& o) {
    std::lock_guard<std::mutex> lock(m_);
    auto now = std::chrono::steady_clock::now();
    if (!sampled_ || now - sampled_at_ > std::chrono::milliseconds(500)) {
      figures_ = sample();
      sampled_at_ = now;
      sampled_ = true;
    }
    write(o, figures_);
  }

 private:
  Figures sample() const {
    Figures f;
    unsigned int ordinal = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
      ggml_backend_dev_t d = ggml_backend_dev_get(i);
      auto type = ggml_backend_dev_type(d);
      if (type != GGML_BACKEND_DEVICE_TYPE_GPU && type != GGML_BACKEND_DEVICE_TYPE_IGPU) continue;
      ggml_backend_dev_props props{};
      ggml_backend_dev_get_props(d, &props);
      GpuFigures g;
      g.device = ggml_backend_dev_name(d);
      g.name = ggml_backend_dev_description(d);
      ggml_backend_dev_memory(d, &g.free, &g.total);
      g.utilization = nvml_.gpu_utilization(props.device_id, ordinal++);
      f.gpus.push_back(g);
    }
    f.cpu_seconds = cpu_seconds();
    f.rss_bytes = resident_bytes();
    host_memory(f.host_total, f.host_available);
    f.cpus = usable_cpus();
    return f;
  }

  void write(std::ostringstream& o, const Figures& f) const {
    auto head = [&](const char* name, const char* type, const char* help) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    };
    head("pronto_gpu_devices", "gauge", "GPU devices ggml offers to the engine (0: it runs on the CPU).");
    o << "pronto_gpu_devices " << f.gpus.size() << "\n";
    head("pronto_nvml_available", "gauge", "1 when NVML (libnvidia-ml.so.1) was loaded: GPU utilisation is known.");
    o << "pronto_nvml_available " << (nvml_.loaded() ? 1 : 0) << "\n";
    if (!f.gpus.empty()) {
      auto labels = [&](const GpuFigures& g) {
        return "{device=\"" + label_value(g.device) + "\",name=\"" + label_value(g.name) + "\"}";
      };
      bool memory_known = false;
      for (const auto& g : f.gpus) memory_known |= g.total > 0;
      if (memory_known) {
        head("pronto_gpu_memory_used_bytes", "gauge", "GPU memory in use (ggml's device memory query).");
        for (const auto& g : f.gpus)
          if (g.total > 0) o << "pronto_gpu_memory_used_bytes" << labels(g) << " " << (g.total - g.free) << "\n";
        head("pronto_gpu_memory_total_bytes", "gauge", "GPU memory in all.");
        for (const auto& g : f.gpus)
          if (g.total > 0) o << "pronto_gpu_memory_total_bytes" << labels(g) << " " << g.total << "\n";
      }
      bool utilization_known = false;
      for (const auto& g : f.gpus) utilization_known |= g.utilization >= 0;
      if (utilization_known) {
        head("pronto_gpu_utilization_ratio", "gauge",
             "Share of time a kernel ran on the GPU over NVML's last sample period (0..1).");
        for (const auto& g : f.gpus)
          if (g.utilization >= 0) o << "pronto_gpu_utilization_ratio" << labels(g) << " " << g.utilization << "\n";
      }
    }
    if (f.cpu_seconds >= 0) {
      head("process_cpu_seconds_total", "counter", "User and system CPU time spent by the engine, in seconds.");
      char seconds[32];  // fixed point: the default 6 significant digits would lose seconds after days
      std::snprintf(seconds, sizeof seconds, "%.3f", f.cpu_seconds);
      o << "process_cpu_seconds_total " << seconds << "\n";
    }
    if (f.rss_bytes >= 0) {
      head("process_resident_memory_bytes", "gauge", "Resident memory of the engine, in bytes.");
      o << "process_resident_memory_bytes " << static_cast<uint64_t>(f.rss_bytes) << "\n";
    }
    if (f.host_total > 0 && f.host_available >= 0) {
      head("pronto_host_memory_total_bytes", "gauge", "Memory of the machine (MemTotal), in bytes.");
      o << "pronto_host_memory_total_bytes " << static_cast<uint64_t>(f.host_total) << "\n";
      head("pronto_host_memory_available_bytes", "gauge",
           "Memory available for new work on the machine (MemAvailable), in bytes.");
      o << "pronto_host_memory_available_bytes " << static_cast<uint64_t>(f.host_available) << "\n";
    }
    if (f.cpus > 0) {
      head("pronto_host_cpus", "gauge", "CPUs the engine may run on (its affinity).");
      o << "pronto_host_cpus " << f.cpus << "\n";
    }
  }

  std::mutex m_;
  Nvml nvml_;
  Figures figures_;
  bool sampled_ = false;
  std::chrono::steady_clock::time_point sampled_at_;
};

}  // namespace

void render_system_metrics(std::ostringstream& o) {
  static SystemMetrics metrics;  // NVML is loaded on the first scrape, once
  metrics.render(o);
}

}  // namespace pronto
