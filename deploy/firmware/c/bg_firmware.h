/* bitgate firmware: what the start-up, the harness and the marker log share (deploy/firmware). */
#ifndef BG_FIRMWARE_H
#define BG_FIRMWARE_H

#include <stdint.h>

/* Exit statuses of the firmware (QEMU's exit status; deploy/firmware/run.py names them). */
#define BG_EXIT_OK 0
#define BG_EXIT_INFER 3 /* bg_infer returned non-zero (a kernel refused its arguments) */
#define BG_EXIT_IO 4    /* a semihosting file could not be opened or written */
#define BG_EXIT_FAULT 5 /* HardFault / MemManage / BusFault / UsageFault / SecureFault */

/* Marker ids the harness adds around bg_infer (the model's own are 0 .. BG_MARKER_COUNT - 1). */
#define BG_MARK_CALIBRATE 0xFFF0u /* two back-to-back marks: the constant cost of one mark */
#define BG_MARK_CALL 0xFFF1u      /* just before bg_infer */
#define BG_MARK_RETURN 0xFFF2u    /* just after it returns */

#ifndef BG_HAS_DWT
#define BG_HAS_DWT 0
#endif

void bg_mark(uint32_t id);
void bg_mark_reset(void);
void bg_mark_print(uint32_t inference);

#endif /* BG_FIRMWARE_H */
