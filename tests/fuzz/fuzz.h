/* A fuzz target: one function that takes any bytes and must neither crash
 * nor leak nor read out of bounds, whatever they are. Built with libFuzzer
 * (scripts/fuzz.sh, clang) or with replay_main.c, which feeds it every file
 * of its corpus: `make check` replays the corpus in every build. */
#ifndef KCR_FUZZ_H
#define KCR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
