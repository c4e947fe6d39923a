/* The marker hook of the bitgate firmware (deploy/firmware).
 *
 * model.c built with -DBG_PROFILE calls bg_mark(id) before every kernel call and glue loop and once
 * at its end; the harness adds its own marks around bg_infer. bg_mark is never inlined, so that
 * QEMU's instruction-counting plugin sees each mark as one execution of its entry address, and
 * takes the same path on every call, so that its cost is one constant the host subtracts. Each mark
 * logs (id, DWT->CYCCNT); bg_mark_print writes the log in the text format of docs/deploying.md:
 *   bg-mark <inference> <id> <cycles>
 * On QEMU the cycle counter reads 0; on a board it counts core cycles. */
#include <stdio.h>

#include "bg_firmware.h"

#ifndef BG_MARK_CAPACITY
#define BG_MARK_CAPACITY 1024
#endif

typedef struct {
  uint32_t id;
  uint32_t cycles;
} bg_mark_entry_t;

static bg_mark_entry_t bg_mark_log[BG_MARK_CAPACITY];
static volatile uint32_t bg_mark_count;
static uint32_t bg_mark_lost;

#if BG_HAS_DWT
#define BG_CYCLES() (*(volatile uint32_t *)0xE0001004u)
#else
#define BG_CYCLES() 0u
#endif

__attribute__((noinline)) void bg_mark(uint32_t id)
{
  uint32_t cycles = BG_CYCLES();
  uint32_t n = bg_mark_count;
  uint32_t slot = n < BG_MARK_CAPACITY ? n : BG_MARK_CAPACITY - 1u; /* branch-free: constant cost */
  bg_mark_log[slot].id = id;
  bg_mark_log[slot].cycles = cycles;
  bg_mark_count = n + 1u;
}

void bg_mark_reset(void)
{
  bg_mark_count = 0;
}

void bg_mark_print(uint32_t inference)
{
  uint32_t n = bg_mark_count;
  if (n > BG_MARK_CAPACITY) {
    bg_mark_lost += n - BG_MARK_CAPACITY;
    n = BG_MARK_CAPACITY;
  }
  for (uint32_t i = 0; i < n; i++)
    printf("bg-mark %lu %lu %lu\n", (unsigned long)inference, (unsigned long)bg_mark_log[i].id,
           (unsigned long)bg_mark_log[i].cycles);
  if (bg_mark_lost) printf("bg-mark-lost %lu\n", (unsigned long)bg_mark_lost);
}
