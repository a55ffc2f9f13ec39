// Figures about the machine the engine runs on, for /metrics (the monitor's memory and utilisation
// charts and the operators' dashboards):
//
//   pronto_gpu_devices                   gauge   GPU devices ggml offers (0: the engine runs on the CPU)
//   pronto_gpu_memory_used_bytes{device,name} / pronto_gpu_memory_total_bytes{device,name}
//                                        gauges  from ggml's device memory query (ggml_backend_dev_memory)
//   pronto_nvml_available                gauge   1 when NVML (libnvidia-ml.so.1) was loaded at start
//   pronto_gpu_utilization_ratio{device,name}
//                                        gauge   0..1 over NVML's last sample period; only with NVML
//   process_cpu_seconds_total            counter user + system CPU time of the engine (all threads)
//   process_resident_memory_bytes        gauge   resident set size
//   pronto_host_memory_total_bytes / pronto_host_memory_available_bytes
//                                        gauges  /proc/meminfo MemTotal / MemAvailable
//   pronto_host_cpus                     gauge   CPUs this process may run on (its affinity)
//
// A figure that cannot be had is left out (never written as 0): the sidecar then shows it as
// unavailable, with the reason the gauges above give (no GPU, no NVML).
//
// NVML is loaded with dlopen, never linked: the same binary runs on machines without an NVIDIA driver.
// GPUs are matched to NVML devices by PCI bus id (ggml's device_id), else by order.
#pragma once
#include <sstream>

namespace pronto {

// Appends the figures above to a /metrics body. Thread-safe; queries are cached for half a second so
// frequent scrapes cost nothing on the GPU side.
void render_system_metrics(std::ostringstream& o);

}  // namespace pronto
