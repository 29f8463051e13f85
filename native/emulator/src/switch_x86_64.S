// switch_x86_64.S — the fiber switch of the block executor (x86-64 System V).
//
//   void emu_switch(void** save_sp, void* new_sp);
//
// Saves the callee-saved registers on the current stack, stores the stack pointer in *save_sp, loads new_sp and
// restores the registers saved there. A fresh fiber's stack is prepared by executor.cpp so that the first switch
// "returns" into fiber_main with the ABI's stack alignment.
//
// Two choices were measured (DESIGN.md §4): the switch ends with pop + jmp instead of ret, because a ret onto
// another stack always misses the return-stack predictor (a switch pair cost 66–86 ns with ret, 13–18 ns without);
// and MXCSR and the x87 control word are not saved, because kernels never change them and ldmxcsr/fldcw doubled the
// cost of a switch.
    .text
    .globl emu_switch
    .hidden emu_switch
    .type emu_switch, @function
emu_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    popq %rcx
    jmp *%rcx
    .cfi_endproc
    .size emu_switch, .-emu_switch
    .section .note.GNU-stack, "", @progbits
