// pronto-engine: command line, backend discovery, the ready line. See native/README.md.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
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
#include "net/server.h"
#include "protocol_json.h"

using namespace pronto;

static bool g_verbose = false;

// The server once it exists (the model loads first). shut_down() may run at any time from the signal
// or stdin thread: before the server exists it ends the process at once (nothing to drain: a parent
// that died while a large model was loading must not leave the engine behind); after, it stops the
// server gracefully. Both orders of "server published" and "stop requested" are covered: whichever
// side comes second sees the other.
static std::atomic<net::Server*> g_server{nullptr};
static std::atomic<bool> g_stop_requested{false};

// Graceful stop (close the listener, let connections finish), with a deadline: a connection that does
// not finish (a stuck client, a long-poll) must never keep a stopped engine alive. A parent that sent
// SIGTERM, or a sidecar that died, expects the process gone within seconds.
static void shut_down(const char* why) {
  static std::once_flag once;
  std::call_once(once, [why] {
    std::fprintf(stderr, "pronto-engine: %s, shutting down\n", why);
    g_stop_requested = true;
    net::Server* server = g_server.load();
    if (!server) {
      std::fprintf(stderr, "pronto-engine: not serving yet (model loading), exiting now\n");
      std::_Exit(0);
    }
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::seconds(3));
      std::fprintf(stderr, "pronto-engine: connections did not close within 3 s, exiting\n");
      std::_Exit(0);
    }).detach();
    server->stop();
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
    "  --chat-model PATH    GGUF instruct model for chat, on the same scheduler (completions first);\n"
    "                       without it chat runs on --model. Requests pick one with `model`\n"
    "  --gpu-layers N       layers to offload (default: all when a GPU is present)\n"
    "  --ctx N              context size in tokens, shared by all sequences (default 4096)\n"
    "  --parallel N         sequences kept in the context (default 4)\n"
    "  --batch N            prompt tokens per decode (default 512)\n"
    "  --threads N          CPU threads (default: all cores but one; see bench/README.md, busy machine)\n"
    "  --kv-type T          KV cache type: auto (default: q8_0 when the head size is divisible by 64,\n"
    "                       else f16), q8_0, f16. q8_0 takes half the memory and keeps CPU decode\n"
    "                       fast with several long sequences resident\n"
    "  --fim-order spm|psm  FIM prompt order (default spm: suffix first, the text before the cursor last)\n"
    "  --cache-reuse N      reuse cached chunks of >= N tokens after an edit, shifting them (default 32, 0 = off)\n"
    "  --max-queue N        requests that may wait for a sequence or KV room (default 256); beyond: overloaded\n"
    "  --share-kv-across-tenants\n"
    "                       let KV prefix reuse cross tenants (API keys); off: a tenant never reuses (or\n"
    "                       learns anything about) another tenant's prompts\n"
    "  --poll N             CPU threads spin N% before sleeping between computations (0-100, default 50)\n"
    "  --speculation-gate on|off\n"
    "                       on (default): pause drafting while verified drafts cost more time per token\n"
    "                       than plain decoding (measured as it runs); off: draft whenever a draft exists\n"
    "  --host ADDR          bind address (default 127.0.0.1)\n"
    "  --port N             port, 0 = any free port (default 0)\n"
    "  --api-key KEY        require Authorization: Bearer KEY (required off loopback); visible to other local\n"
    "                       users in the process list: prefer the PRONTO_API_KEY environment variable\n"
    "  --api-keys-file FILE one \"TENANT KEY\" per line (mode 600): several keys, each naming a tenant\n"
    "  --allowed-origins L  comma-separated origins (scheme://host[:port]) whose web pages may call the\n"
    "                       engine; default none (requests with another Origin get 403); * = any\n"
    "  --allowed-hosts L    comma-separated host names accepted in the Host header besides loopback names\n"
    "                       and --host (e.g. the name a proxy or a cluster uses); * = any\n"
    "  --max-connections N  open HTTP + WebSocket connections (default 1024); more get 503\n"
    "  --header-timeout S   seconds for an idle connection or a request header to complete (default 15)\n"
    "  --client-queue-limit BYTES  unsent output per connection before a client that does not read is\n"
    "                       dropped and its requests cancelled (default 1048576)\n"
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

// More file descriptors: each connection holds one. The soft limit (often 1024) is raised to the hard
// limit; --max-connections is then capped to what fits, with a message.
static void fit_connections_to_fd_limit(int& max_connections) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = old;
  }
  // Reserve for the model files, backends, stdio, the listener and refusals in flight.
  const rlim_t reserve = 128;
  const rlim_t usable = rl.rlim_cur > reserve ? rl.rlim_cur - reserve : 1;
  if (static_cast<rlim_t>(max_connections) > usable) {
    std::fprintf(stderr,
                 "pronto-engine: --max-connections %d lowered to %d: the open-file limit is %llu (raise ulimit -n)\n",
                 max_connections, static_cast<int>(usable), static_cast<unsigned long long>(rl.rlim_cur));
    max_connections = static_cast<int>(usable);
  }
}

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
  net::NetOptions so;
  std::string backend_dir, api_key, api_keys_file, allowed_origins, allowed_hosts;
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
    else if (a == "--chat-model")
      eo.chat_model_path = need();
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
    else if (a == "--max-queue")
      eo.max_queue = parse_int(a, need(), 1, 1 << 20);
    else if (a == "--share-kv-across-tenants")
      eo.share_kv_across_tenants = true;
    else if (a == "--poll")
      eo.poll = parse_int(a, need(), 0, 100);
    else if (a == "--speculation-gate") {
      const std::string v = need();
      if (v != "on" && v != "off") die("--speculation-gate must be on or off, got \"" + v + "\"", 2);
      eo.speculation_gate = v == "on";
    } else if (a == "--kv-type") {
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
      api_key = need();
    else if (a == "--api-keys-file")
      api_keys_file = need();
    else if (a == "--allowed-origins")
      allowed_origins = need();
    else if (a == "--allowed-hosts")
      allowed_hosts = need();
    else if (a == "--max-connections")
      so.max_connections = parse_int(a, need(), 1, 1 << 20);
    else if (a == "--header-timeout")
      so.header_timeout = std::chrono::seconds(parse_int(a, need(), 1, 3600));
    else if (a == "--client-queue-limit")
      so.client_queue_bytes = static_cast<size_t>(parse_int(a, need(), 4096, 1 << 30));
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
  // The value is also overwritten in place: /proc/<pid>/environ shows the original environment block,
  // which unsetenv() leaves as it was.
  if (char* k = std::getenv("PRONTO_API_KEY")) {
    if (api_key.empty()) api_key = k;
    std::memset(k, 0, std::strlen(k));
  }
  unsetenv("PRONTO_API_KEY");
  try {
    // One key (flag or environment) is the tenant "default"; a keys file names its tenants.
    if (!api_key.empty()) so.keys.add("default", api_key);
    if (!api_keys_file.empty()) so.keys.load_file(api_keys_file);
  } catch (const std::exception& e) {
    die(e.what(), 2);
  }
  try {
    so.site = net::SitePolicy(so.host, net::split_list(allowed_origins), net::split_list(allowed_hosts));
  } catch (const std::invalid_argument& e) {
    die(std::string(allowed_origins.empty() ? "--allowed-hosts: " : "--allowed-origins/--allowed-hosts: ") + e.what(),
        2);
  }
  // Loopback is decided on the address itself (127.0.0.0/8, ::1, or the name localhost), never on a
  // string prefix: --host 127.0.0.1.example.com is a name like any other.
  if (!net::is_loopback_host(so.host) && so.keys.empty())
    die("--api-key is required when --host is not a loopback address (" + so.host +
            "); or set PRONTO_API_KEY, or use --api-keys-file",
        2);
  fit_connections_to_fd_limit(so.max_connections);

  // Block SIGINT/SIGTERM in every thread; one thread waits for them and stops the server.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Signals and the parent's death are watched from here on, while the model loads too.
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    const std::string why = "signal " + std::to_string(sig);
    shut_down(why.c_str());
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
      shut_down("stdin closed");
    }).detach();
  }

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
  const std::string host = so.host;
  if (!engine.load(eo, err)) die(err, 1);
  engine.start();

  net::Server server(engine, std::move(so));
  if (!server.bind(err)) {
    engine.stop();
    die(err, 1);
  }
  g_server = &server;  // from here shut_down() stops the server instead of exiting
  {
    const int port = server.port();
    json ready{
        {"event", "ready"},
        {"host", host},
        {"port", port},
        {"model", model_info_json(engine.model_info())},
        {"draft_model", engine.draft_info() ? model_info_json(*engine.draft_info()) : json(nullptr)},
        {"chat_model", engine.chat_engine() ? model_info_json(engine.chat_engine()->model_info()) : json(nullptr)},
        {"models", loaded_models_json(engine)},
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
    std::fprintf(stderr, "pronto-engine: listening on http://%s:%d\n", host.c_str(), port);
  }
  if (!g_stop_requested) server.run();  // else a stop came while binding: it has been passed on, nothing to serve
  engine.stop();
  g_server = nullptr;
  return 0;
}
