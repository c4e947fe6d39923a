/* bitgate's QEMU TCG plugin: exact retired-instruction counts at every execution of one address.
 *
 *   qemu-system-arm ... -plugin libbg_insn_count.so,mark=0x1234,out=counts.txt
 *
 * Every translated block adds its instruction count to one counter when it starts executing (an
 * inline add: the firmware takes no interrupts, so a block that starts also runs to its end, and the
 * count is exact). Each time the instruction at `mark` (the entry of bg_mark) is about to execute,
 * the counter is appended to a list; at exit the list is written to `out`, one decimal per line,
 * followed by the line "total <count>". The counter includes the whole block that starts at `mark`,
 * a constant the host removes by taking differences. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

BG_QEMU_PLUGIN_EXPORT int qemu_plugin_version = BG_QEMU_PLUGIN_VERSION;

static uint64_t bg_count;
static uint64_t bg_mark_addr = UINT64_MAX;
static uint64_t *bg_marks;
static size_t bg_n_marks, bg_cap_marks;
static char *bg_out_path;

static void bg_on_mark(unsigned int vcpu_index, void *userdata)
{
  (void)vcpu_index;
  (void)userdata;
  if (bg_n_marks == bg_cap_marks) {
    size_t cap = bg_cap_marks ? 2 * bg_cap_marks : 4096;
    uint64_t *grown = realloc(bg_marks, cap * sizeof *grown);
    if (!grown) abort();
    bg_marks = grown;
    bg_cap_marks = cap;
  }
  bg_marks[bg_n_marks++] = bg_count;
}

static void bg_on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
  (void)id;
  size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &bg_count, n);
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    if (qemu_plugin_insn_vaddr(insn) == bg_mark_addr)
      qemu_plugin_register_vcpu_insn_exec_cb(insn, bg_on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
  }
}

static void bg_on_exit(qemu_plugin_id_t id, void *userdata)
{
  (void)id;
  (void)userdata;
  FILE *f = fopen(bg_out_path, "w");
  if (!f) return;
  for (size_t i = 0; i < bg_n_marks; i++) fprintf(f, "%" PRIu64 "\n", bg_marks[i]);
  fprintf(f, "total %" PRIu64 "\n", bg_count);
  fclose(f);
}

BG_QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                              char **argv)
{
  if (info->system_emulation && info->system.smp_vcpus != 1) {
    fprintf(stderr, "bg_insn_count: one vCPU only\n");
    return -1;
  }
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "mark=", 5) == 0) bg_mark_addr = strtoull(argv[i] + 5, NULL, 0);
    else if (strncmp(argv[i], "out=", 4) == 0) bg_out_path = strdup(argv[i] + 4);
    else {
      fprintf(stderr, "bg_insn_count: unknown argument %s (expected mark=ADDR, out=PATH)\n", argv[i]);
      return -1;
    }
  }
  if (!bg_out_path) {
    fprintf(stderr, "bg_insn_count: out=PATH is required\n");
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, bg_on_translate);
  qemu_plugin_register_atexit_cb(id, bg_on_exit, NULL);
  return 0;
}
