// pronto-engine: command line, backend discovery, the ready line. See native/README.md.
#include <sys/stat.h>
#include <unistd.h>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "engine.h"
#include "ggml-backend.h"
#include "http_server.h"
#include "protocol_json.h"

using namespace pronto;

static bool g_verbose = false;

// Graceful stop (close the listener, let connections finish), with a deadline: a connection that does
// not finish (a stuck client, a long-poll) must never keep a stopped engine alive. A parent that sent
// SIGTERM, or a sidecar that died, expects the process gone within seconds.
static void shut_down() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::seconds(3));
      std::fprintf(stderr, "pronto-engine: connections did not close within 3 s, exiting\n");
      std::_Exit(0);
    }).detach();
    stop_server();
  });
}

static void log_cb(ggml_log_level level, const char* text, void*) {
  if (g_verbose || level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

[[noreturn]] static void die(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "pronto-engine: error: %s\n", msg.c_str());
  std::exit(code);
}

static const char* kUsage =
    "usage: pronto-engine --model PATH [options]\n"
    "  --model PATH         GGUF model (required)\n"
    "  --draft-model PATH   GGUF draft model for speculative decoding (same vocabulary)\n"
    "  --gpu-layers N       layers to offload (default: all when a GPU is present)\n"
    "  --ctx N              context size in tokens, shared by all sequences (default 4096)\n"
    "  --parallel N         sequences kept in the context (default 4)\n"
    "  --batch N            prompt tokens per decode (default 512)\n"
    "  --threads N          CPU threads (default: all cores)\n"
    "  --kv-type T          KV cache type: auto (default: q8_0 when the head size is divisible by 64,\n"
    "                       else f16), q8_0, f16. q8_0 takes half the memory and keeps CPU decode\n"
    "                       fast with several long sequences resident\n"
    "  --fim-order spm|psm  FIM prompt order (default spm: suffix first, the text before the cursor last)\n"
    "  --cache-reuse N      reuse cached chunks of >= N tokens after an edit, shifting them (default 32, 0 = off)\n"
    "  --host ADDR          bind address (default 127.0.0.1)\n"
    "  --port N             port, 0 = any free port (default 0)\n"
    "  --api-key KEY        require Authorization: Bearer KEY (required off loopback); visible to other local\n"
    "                       users in the process list: prefer the PRONTO_API_KEY environment variable\n"
    "  --backend-dir DIR    where the ggml backends live (default: next to the binary, else the build's)\n"
    "  --verbose            llama.cpp logs on stderr\n"
    "  --exit-with-stdin    shut down when stdin reaches end of file (the parent process died)\n"
    "  --version            print the version and exit\n";

static int parse_int(const std::string& flag, const char* v, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v, &end, 10);
  if (errno || !end || *end || x < lo || x > hi)
    die(flag + " must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got \"" + v +
            "\"",
        2);
  return static_cast<int>(x);
}

static bool is_loopback(const std::string& h) { return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0; }

static std::string exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

static bool file_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

int main(int argc, char** argv) {
  EngineOptions eo;
  ServerOptions so;
  std::string backend_dir;
  bool exit_with_stdin = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto need = [&]() -> const char* {
      if (i + 1 >= argc) die(a + " needs a value\n" + kUsage, 2);
      return argv[++i];
    };
    if (a == "--version") {
      std::printf("pronto-engine %s (llama.cpp %s, %s)\n", PRONTO_VERSION, PRONTO_LLAMA_RELEASE, PRONTO_LLAMA_SOURCE);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--model" || a == "-m")
      eo.model_path = need();
    else if (a == "--draft-model" || a == "-md")
      eo.draft_model_path = need();
    else if (a == "--gpu-layers" || a == "-ngl")
      eo.gpu_layers = parse_int(a, need(), 0, 100000);
    else if (a == "--ctx" || a == "-c")
      eo.n_ctx = parse_int(a, need(), 64, 1 << 20);
    else if (a == "--parallel" || a == "-np")
      eo.n_parallel = parse_int(a, need(), 1, 64);
    else if (a == "--batch" || a == "-b")
      eo.n_batch = parse_int(a, need(), 32, 8192);
    else if (a == "--cache-reuse")
      eo.cache_reuse = parse_int(a, need(), 0, 1 << 20);
    else if (a == "--kv-type") {
      eo.kv_type = need();
      if (eo.kv_type != "auto" && eo.kv_type != "f16" && eo.kv_type != "q8_0")
        die("--kv-type must be auto, q8_0 or f16, got \"" + eo.kv_type + "\"", 2);
    } else if (a == "--fim-order") {
      eo.fim_order = need();
      if (eo.fim_order != "spm" && eo.fim_order != "psm")
        die("--fim-order must be spm or psm, got \"" + eo.fim_order + "\"", 2);
    } else if (a == "--threads" || a == "-t")
      eo.n_threads = parse_int(a, need(), 1, 1024);
    else if (a == "--host")
      so.host = need();
    else if (a == "--port")
      so.port = parse_int(a, need(), 0, 65535);
    else if (a == "--api-key")
      so.api_key = need();
    else if (a == "--backend-dir")
      backend_dir = need();
    else if (a == "--verbose")
      g_verbose = true;
    else if (a == "--exit-with-stdin")
      exit_with_stdin = true;
    else
      die("unknown option \"" + a + "\"\n" + kUsage, 2);
  }
  if (eo.model_path.empty()) die(std::string("--model is required\n") + kUsage, 2);
  // The key from the environment (how the sidecar passes it: a process's environment is readable only
  // by its own user, its command line by everyone). Removed from the environment once read.
  if (so.api_key.empty()) {
    if (const char* k = std::getenv("PRONTO_API_KEY"); k && *k) so.api_key = k;
  }
  unsetenv("PRONTO_API_KEY");
  if (!is_loopback(so.host) && so.api_key.empty())
    die("--api-key is required when --host is not a loopback address (" + so.host + ")", 2);

  // Block SIGINT/SIGTERM in every thread; one thread waits for them and stops the server.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  llama_log_set(log_cb, nullptr);
  // Backends: the prebuilt package ships the CPU variants and CUDA as loadable libraries.
  if (backend_dir.empty()) {
    if (const char* env = std::getenv("PRONTO_BACKEND_DIR")) backend_dir = env;
  }
  if (backend_dir.empty()) {
    std::string here = exe_dir();
    backend_dir = file_exists(here + "/libggml-cpu-x64.so") ? here : std::string(PRONTO_BACKEND_DIR);
  }
  if (!backend_dir.empty())
    ggml_backend_load_all_from_path(backend_dir.c_str());
  else
    ggml_backend_load_all();
  llama_backend_init();

  json devices = json::array();
  bool has_gpu = false;
  std::string backend = "CPU";
  bool cuda_reg = false;
  for (size_t i = 0; i < ggml_backend_reg_count(); i++)
    if (std::string(ggml_backend_reg_name(ggml_backend_reg_get(i))) == "CUDA") cuda_reg = true;
  for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
    ggml_backend_dev_t d = ggml_backend_dev_get(i);
    size_t fr = 0, tot = 0;
    ggml_backend_dev_memory(d, &fr, &tot);
    const char* type = "cpu";
    switch (ggml_backend_dev_type(d)) {
      case GGML_BACKEND_DEVICE_TYPE_GPU:
        type = "gpu";
        break;
      case GGML_BACKEND_DEVICE_TYPE_IGPU:
        type = "igpu";
        break;
      case GGML_BACKEND_DEVICE_TYPE_ACCEL:
        type = "accel";
        break;
      default:
        break;
    }
    if (std::strcmp(type, "gpu") == 0 || std::strcmp(type, "igpu") == 0) {
      has_gpu = true;
      std::string reg = ggml_backend_reg_name(ggml_backend_dev_backend_reg(d));
      if (backend == "CPU") backend = reg == "CUDA" ? "CUDA" : reg == "Vulkan" ? "Vulkan" : reg;
    }
    devices.push_back({{"name", std::string(ggml_backend_dev_name(d)) + " (" + ggml_backend_dev_description(d) + ")"},
                       {"type", type},
                       {"memory_free", fr},
                       {"memory_total", tot}});
  }
  std::fprintf(stderr, "pronto-engine: backends from %s\n", backend_dir.empty() ? "(built in)" : backend_dir.c_str());
  if (!has_gpu) {
    if (!backend_dir.empty() && file_exists(backend_dir + "/libggml-cuda.so") && !cuda_reg)
      // One short line (it is repeated in the editor's log on every engine start): the libraries
      // it needs are named in native/README.md.
      std::fprintf(stderr, "pronto-engine: no CUDA runtime or NVIDIA driver found; running on the CPU.\n");
    else if (cuda_reg)
      std::fprintf(stderr, "pronto-engine: no CUDA GPU found; running on the CPU.\n");
    else
      std::fprintf(stderr, "pronto-engine: no GPU backend available. Running on CPU.\n");
    if (eo.gpu_layers > 0) std::fprintf(stderr, "pronto-engine: --gpu-layers %d ignored: no GPU.\n", eo.gpu_layers);
    eo.gpu_layers = 0;
  }
  std::fprintf(stderr, "pronto-engine: backend %s, %zu device(s):", backend.c_str(),
               static_cast<size_t>(devices.size()));
  for (auto& d : devices)
    std::fprintf(stderr, " [%s: %s]", d["type"].get<std::string>().c_str(), d["name"].get<std::string>().c_str());
  std::fprintf(stderr, "\n");

  Engine engine;
  std::string err;
  if (!engine.load(eo, err)) die(err, 1);
  engine.start();

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    std::fprintf(stderr, "pronto-engine: signal %d, shutting down\n", sig);
    shut_down();
    sigwait(&sigs, &sig);  // a second signal: the parent insists
    std::fprintf(stderr, "pronto-engine: second signal %d, exiting now\n", sig);
    std::_Exit(0);
  });
  signal_thread.detach();
  if (exit_with_stdin) {
    std::thread([] {
      char buf[256];
      while (read(0, buf, sizeof buf) > 0) {
      }
      std::fprintf(stderr, "pronto-engine: stdin closed, shutting down\n");
      shut_down();
    }).detach();
  }

  auto on_bound = [&](int port) {
    json ready{{"event", "ready"},
               {"host", so.host},
               {"port", port},
               {"model", model_info_json(engine.model_info())},
               {"draft_model", engine.draft_info() ? model_info_json(*engine.draft_info()) : json(nullptr)},
               {"fim",
                {{"supported", engine.fim_info().supported},
                 {"repo_level", engine.fim_info().repo_level},
                 {"order", engine.fim_info().order}}},
               {"build",
                {{"version", PRONTO_VERSION},
                 {"llama", PRONTO_LLAMA_RELEASE},
                 {"source", PRONTO_LLAMA_SOURCE},
                 {"backend", backend},
                 {"devices", devices}}},
               {"n_ctx", engine.n_ctx()},
               {"kv_type", engine.kv_type()},
               {"n_parallel", engine.n_parallel()},
               {"protocol", kProtocolVersion}};
    std::string line = dump(ready) + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    std::fprintf(stderr, "pronto-engine: listening on http://%s:%d\n", so.host.c_str(), port);
  };
  if (!run_server(engine, so, on_bound, err)) {
    engine.stop();
    die(err, 1);
  }
  engine.stop();
  return 0;
}
