// pronto-unit-test: every case registered by the *_test.cpp files linked with it (unit.h).
#include "unit.h"

UNIT_MAIN
