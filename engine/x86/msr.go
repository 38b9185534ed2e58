package x86

import "paddock/engine/kvm"

// MSR indices the boot CPU starts with.
const (
	MSRTSC            = 0x10
	MSRSysenterCS     = 0x174
	MSRSysenterESP    = 0x175
	MSRSysenterEIP    = 0x176
	MSRMiscEnable     = 0x1A0
	MSRMTRRDefType    = 0x2FF
	MSRSTAR           = 0xC000_0081
	MSRLSTAR          = 0xC000_0082
	MSRCSTAR          = 0xC000_0083
	MSRSyscallMask    = 0xC000_0084
	MSRKernelGSBase   = 0xC000_0102
	miscEnableFastStr = 1 << 0
	mtrrEnable        = 1 << 11
	mtrrTypeWB        = 6
)

// BootMSRs returns the MSR values a vCPU starts with, given the CPUID table it was given: MTRRs enabled with
// write-back as the default type (Linux then finds no MTRR trouble), fast strings only when ERMS is shown, the
// SYSENTER/SYSCALL MSRs and the TSC at zero. Set them on every vCPU before its first run.
func BootMSRs(cpuid []kvm.CPUIDEntry) []kvm.MSR {
	var misc uint64
	for _, e := range cpuid {
		if e.Function == 7 && e.Index == 0 && e.EBX&leaf7EBXERMS != 0 {
			misc |= miscEnableFastStr
		}
	}
	return []kvm.MSR{
		{Index: MSRSysenterCS}, {Index: MSRSysenterESP}, {Index: MSRSysenterEIP},
		{Index: MSRSTAR}, {Index: MSRLSTAR}, {Index: MSRCSTAR}, {Index: MSRSyscallMask}, {Index: MSRKernelGSBase},
		{Index: MSRTSC},
		{Index: MSRMiscEnable, Data: misc},
		{Index: MSRMTRRDefType, Data: mtrrEnable | mtrrTypeWB},
	}
}
