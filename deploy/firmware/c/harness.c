/* Harness of the bitgate firmware (deploy/firmware): bg_infer on every input of a host file.
 *
 * Reads int8 inputs of BG_INPUT_SIZE bytes from bg_inputs.bin (semihosting, relative to QEMU's
 * working directory) until the file ends, runs bg_infer on each between marks (bg_firmware.h), writes
 * the BG_OUTPUT_SIZE int8 outputs to bg_outputs.bin, prints the mark log of each inference and a
 * summary line, and returns an exit status of bg_firmware.h. The stack below the harness is painted
 * before every call and scanned after it: the deepest word bg_infer wrote is its stack high-water mark. */
#include <stdio.h>
#include <stdint.h>

#include "bg_firmware.h"
#include "model.h"

#define BG_PAINT 0xB17CA7E5u

extern uint32_t __stack_limit__;

static int8_t bg_in[BG_INPUT_SIZE];
static int8_t bg_out[BG_OUTPUT_SIZE];

static inline uintptr_t bg_sp(void)
{
  uintptr_t sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

/* Inlined into main so that no frame lies below `top` while painting (nothing is ever stored below sp). */
static inline __attribute__((always_inline)) void bg_stack_paint(uintptr_t top)
{
  for (uint32_t *p = &__stack_limit__; (uintptr_t)p < top; p++) *p = BG_PAINT;
}

static uint32_t bg_stack_used(uintptr_t top)
{
  const uint32_t *p = &__stack_limit__;
  while ((uintptr_t)p < top && *p == BG_PAINT) p++;
  return (uint32_t)(top - (uintptr_t)p);
}

int main(void)
{
  FILE *fi = fopen("bg_inputs.bin", "rb");
  FILE *fo = fopen("bg_outputs.bin", "wb");
  if (!fi || !fo) {
    fprintf(stderr, "bitgate firmware: cannot open bg_inputs.bin / bg_outputs.bin\n");
    return BG_EXIT_IO;
  }
  uint32_t n = 0, stack = 0;
  while (fread(bg_in, 1, BG_INPUT_SIZE, fi) == BG_INPUT_SIZE) {
    bg_mark_reset();
    bg_mark(BG_MARK_CALIBRATE);
    bg_mark(BG_MARK_CALIBRATE);
    uintptr_t top = bg_sp();
    bg_stack_paint(top);
    bg_mark(BG_MARK_CALL);
    int rc = bg_infer(bg_in, bg_out);
    bg_mark(BG_MARK_RETURN);
    uint32_t used = bg_stack_used(top);
    stack = used > stack ? used : stack;
    if (rc != 0) {
      fprintf(stderr, "bitgate firmware: bg_infer returned %d on input %lu\n", rc, (unsigned long)n);
      return BG_EXIT_INFER;
    }
    if (fwrite(bg_out, 1, BG_OUTPUT_SIZE, fo) != BG_OUTPUT_SIZE) {
      fprintf(stderr, "bitgate firmware: cannot write bg_outputs.bin\n");
      return BG_EXIT_IO;
    }
    bg_mark_print(n);
    n++;
  }
  fclose(fi);
  if (fclose(fo) != 0) return BG_EXIT_IO;
  printf("bg-run inputs %lu stack_bytes %lu\n", (unsigned long)n, (unsigned long)stack);
  return BG_EXIT_OK;
}
