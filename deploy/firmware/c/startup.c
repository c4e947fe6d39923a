/* bitgate firmware start-up for the emulated Cortex-M boards (deploy/firmware).
 *
 * Reset: enable the FPU (and MVE on Armv8.1-M: the same CP10/CP11 bits) through CPACR, copy .data,
 * zero .bss, start the DWT cycle counter where the core has one, open the semihosting handles and
 * run main(); its return value becomes QEMU's exit status (SYS_EXIT_EXTENDED through newlib's exit).
 * Every fault ends the run through semihosting with exit status BG_EXIT_FAULT, naming the fault and
 * the faulting PC, so a crash in a kernel is a clear error and never a hang. */
#include <stdint.h>
#include <stdlib.h>

#include "bg_firmware.h"

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;
extern int main(void);
extern void initialise_monitor_handles(void);

#define BG_REG(addr) (*(volatile uint32_t *)(addr))
#define SCB_CPACR BG_REG(0xE000ED88u)
#define SCB_CFSR BG_REG(0xE000ED28u)
#define SCB_HFSR BG_REG(0xE000ED2Cu)
#define DEMCR BG_REG(0xE000EDFCu)
#define DWT_CTRL BG_REG(0xE0001000u)
#define DWT_CYCCNT BG_REG(0xE0001004u)

void Reset_Handler(void);
void _init(void);
void _fini(void);
void bg_fault_entry(void);
void bg_fault_report(const uint32_t *frame, uint32_t exc_return);

void Reset_Handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
  SCB_CPACR |= 0xFu << 20; /* CP10 and CP11: full access */
  __asm volatile("dsb\n\tisb" ::: "memory");
#endif
  for (uint32_t *src = &__data_load__, *dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
#if BG_HAS_DWT
  DEMCR |= 1u << 24; /* TRCENA */
  DWT_CYCCNT = 0;
  DWT_CTRL |= 1u; /* CYCCNTENA */
#endif
  initialise_monitor_handles();
  exit(main());
}

/* newlib's exit() runs __libc_fini_array, which calls _fini (crti.o without -nostartfiles): nothing to do. */
void _init(void) {}
void _fini(void) {}

/* Semihosting without newlib (the C library may be what broke). */
static uint32_t bg_semihost(uint32_t op, const void *arg)
{
  register uint32_t r0 __asm("r0") = op;
  register const void *r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static void bg_hex(char *p, uint32_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 4) p[i] = "0123456789abcdef"[v & 0xFu];
}

void bg_fault_report(const uint32_t *frame, uint32_t exc_return)
{
  static char msg[] = "bitgate firmware: fault, exception xxxxxxxx at pc xxxxxxxx (cfsr xxxxxxxx hfsr xxxxxxxx)\n";
  uint32_t ipsr;
  __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  (void)exc_return;
  bg_hex(msg + 35, ipsr & 0x1FFu);
  bg_hex(msg + 50, frame[6]);
  bg_hex(msg + 65, SCB_CFSR);
  bg_hex(msg + 79, SCB_HFSR);
  bg_semihost(0x04u, msg); /* SYS_WRITE0 */
  const uint32_t block[2] = {0x20026u, BG_EXIT_FAULT}; /* ADP_Stopped_ApplicationExit, status */
  bg_semihost(0x20u, block);                           /* SYS_EXIT_EXTENDED */
  for (;;) {
  }
}

/* The stacked frame is on MSP or PSP (EXC_RETURN bit 2). */
__attribute__((naked)) void bg_fault_entry(void)
{
  __asm volatile(
      "tst lr, #4\n\t"
      "ite eq\n\t"
      "mrseq r0, msp\n\t"
      "mrsne r0, psp\n\t"
      "mov r1, lr\n\t"
      "b bg_fault_report\n\t");
}

typedef void (*bg_vector_t)(void);

/* Initial SP, reset, then NMI, HardFault, MemManage, BusFault, UsageFault, SecureFault: every
 * exception this firmware can raise; the rest stay 0 (no interrupts are enabled). */
__attribute__((section(".isr_vector"), used)) const bg_vector_t bg_vectors[16] = {
    (bg_vector_t)(uintptr_t)&__stack_top__,
    Reset_Handler,
    bg_fault_entry,
    bg_fault_entry,
    bg_fault_entry,
    bg_fault_entry,
    bg_fault_entry,
    bg_fault_entry,
};
