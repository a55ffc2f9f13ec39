// The engine's C++ tests, each case its own test: pure parts (stop conditions, UTF-8 assembly, where
// text is cut before tokenizing, ...) and the tokenizer on the test models' real vocabularies.
// Built by npm run build:native (native/tests/).
import { registerNativeTests } from '../support/nativeTests';

registerNativeTests('pronto-unit-test');
registerNativeTests('pronto-tokenizer-test');
