// The engine's table-driven C++ tests of its network's pure parts (SHA-256, API key lookup and the keys
// file, loopback by address, Host/Origin policy, the Outbox bound): native/tests/net_test.cpp, built by
// npm run build:native as pronto-net-test. Each check is its own test.
import { registerNativeChecks } from '../support/nativeTests';

registerNativeChecks('pronto-net-test');
