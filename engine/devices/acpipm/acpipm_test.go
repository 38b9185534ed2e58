package acpipm

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"

	"paddock/engine/bus"
	"paddock/engine/irq/irqtest"
)

const (
	evtBase = 0x600
	cntBase = 0x604
)

type machine struct {
	ports     bus.Bus
	pm        *PM
	sci       *irqtest.Line
	poweroffs int
}

func newMachine(t *testing.T) *machine {
	m := &machine{sci: &irqtest.Line{}}
	m.pm = New(Config{SCI: m.sci, PowerOff: func() { m.poweroffs++ },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := m.ports.Register(evtBase, EventBlockSize, m.pm.EventBlock()); err != nil {
		t.Fatal(err)
	}
	if err := m.ports.Register(cntBase, ControlBlockSize, m.pm.ControlBlock()); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *machine) inw(port uint64) uint16 {
	var b [2]byte
	m.ports.Read(port, b[:])
	return binary.LittleEndian.Uint16(b[:])
}

func (m *machine) outw(port uint64, v uint16) {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], v)
	m.ports.Write(port, b[:])
}

func TestPowerButtonRaisesAndClearLowersSCI(t *testing.T) {
	m := newMachine(t)
	// The acpi button driver enables the fixed power button event.
	m.outw(evtBase+2, m.inw(evtBase+2)|enablePowerButton)
	if m.sci.High() {
		t.Fatal("SCI high before any event")
	}
	m.pm.PressPowerButton()
	if !m.sci.High() {
		t.Fatal("SCI low after the power button was pressed with PWRBTN_EN set")
	}
	if m.inw(evtBase)&StatusPowerButton == 0 {
		t.Fatal("PWRBTN_STS not set")
	}
	m.outw(evtBase, 0) // writing zeros clears nothing
	if !m.sci.High() {
		t.Fatal("writing 0 to PM1_STS cleared the event")
	}
	m.outw(evtBase, StatusPowerButton) // write 1 to clear
	if m.sci.High() {
		t.Fatal("SCI still high after PWRBTN_STS was cleared")
	}
	if m.inw(evtBase)&StatusPowerButton != 0 {
		t.Fatal("PWRBTN_STS not cleared")
	}
}

func TestPowerButtonWithoutEnableIsLatchedOnly(t *testing.T) {
	m := newMachine(t)
	m.pm.PressPowerButton()
	if m.sci.High() {
		t.Fatal("SCI raised with PWRBTN_EN clear")
	}
	m.outw(evtBase+2, enablePowerButton)
	if !m.sci.High() {
		t.Fatal("enabling the event with its status latched did not raise the SCI")
	}
	m.outw(evtBase+2, 0)
	if m.sci.High() {
		t.Fatal("disabling the event did not drop the SCI")
	}
}

func TestDwordAndByteAccess(t *testing.T) {
	m := newMachine(t)
	m.ports.Write(evtBase+3, []byte{0x01}) // PM1_EN high byte: PWRBTN_EN
	m.pm.PressPowerButton()
	var d [4]byte
	m.ports.Read(evtBase, d[:])
	if got := binary.LittleEndian.Uint32(d[:]); got != StatusPowerButton|enablePowerButton<<16 {
		t.Fatalf("dword read of the event block = %#x", got)
	}
	m.ports.Write(evtBase+1, []byte{0x01}) // clear PWRBTN_STS with a byte write
	if m.sci.High() || m.inw(evtBase) != 0 {
		t.Fatal("byte write-1-to-clear failed")
	}
}

func TestS5CallsPowerOff(t *testing.T) {
	m := newMachine(t)
	if m.inw(cntBase)&controlSCIEnable == 0 {
		t.Fatal("SCI_EN reads 0: Linux would try to enable ACPI through SMI_CMD")
	}
	// ACPICA's acpi_hw_legacy_sleep: SLP_TYP first, then SLP_TYP|SLP_EN.
	cnt := m.inw(cntBase) &^ (controlSlpTyp | controlSlpEn)
	m.outw(cntBase, cnt|SleepTypeS5<<slpTypShift)
	if m.poweroffs != 0 {
		t.Fatal("powered off before SLP_EN")
	}
	if m.inw(cntBase)&controlSlpTyp != SleepTypeS5<<slpTypShift {
		t.Fatal("SLP_TYP not kept")
	}
	m.outw(cntBase, cnt|SleepTypeS5<<slpTypShift|controlSlpEn)
	if m.poweroffs != 1 {
		t.Fatalf("S5 with SLP_EN: %d power-offs, want 1", m.poweroffs)
	}
	if m.inw(cntBase)&controlSlpEn != 0 {
		t.Error("SLP_EN reads back set; it is write-only")
	}
}

func TestS5ByByteWrite(t *testing.T) {
	m := newMachine(t)
	m.ports.Write(cntBase+1, []byte{byte((SleepTypeS5<<slpTypShift | controlSlpEn) >> 8)})
	if m.poweroffs != 1 {
		t.Fatalf("byte write of SLP_TYP=S5|SLP_EN: %d power-offs, want 1", m.poweroffs)
	}
}

func TestOtherWritesDoNotPowerOff(t *testing.T) {
	m := newMachine(t)
	for typ := uint16(0); typ < 8; typ++ {
		if typ == SleepTypeS5 {
			continue
		}
		m.outw(cntBase, typ<<slpTypShift|controlSlpEn)
	}
	m.outw(cntBase, SleepTypeS5<<slpTypShift) // no SLP_EN
	m.ports.Write(cntBase, []byte{0xff})      // low byte only: SLP_EN is in the high byte
	m.outw(evtBase, 0xffff)
	m.outw(evtBase+2, 0xffff)
	if m.poweroffs != 0 {
		t.Fatalf("%d power-offs from writes that are not S5 entry", m.poweroffs)
	}
}

func TestPMTimerCounts(t *testing.T) {
	now := time.Unix(1000, 0)
	tm := NewTimer(func() time.Time { return now })
	read := func() uint32 {
		var b [4]byte
		tm.Read(0, b[:])
		return binary.LittleEndian.Uint32(b[:])
	}
	if v := read(); v != 0 {
		t.Fatalf("timer at start = %d", v)
	}
	now = now.Add(time.Second)
	if v := read(); v != TimerFrequency {
		t.Fatalf("timer after 1 s = %d, want %d", v, TimerFrequency)
	}
	now = now.Add(9 * time.Second)
	if v := read(); v != (10*TimerFrequency)&0xffffff {
		t.Fatalf("timer after 10 s = %#x, want it wrapped at 24 bits", v)
	}
}

func FuzzAccesses(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x00, 0x01, 0x21, 0x00, 0x34, 0x13, 0x03, 0x00})
	f.Add([]byte{0x11, 0x01, 0x01, 0x02, 0x01, 0xff, 0x05, 0x00, 0x00, 0x20})
	f.Fuzz(func(t *testing.T, ops []byte) {
		pm := New(Config{SCI: &irqtest.Line{}, PowerOff: func() {}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		tm := NewTimer(nil)
		devs := []bus.Device{pm.EventBlock(), pm.ControlBlock(), tm}
		sizes := []uint64{EventBlockSize, ControlBlockSize, TimerBlockSize}
		for len(ops) >= 3 {
			op, off, v := ops[0], uint64(ops[1]), ops[2]
			ops = ops[3:]
			which := int(op>>2) % 3
			off %= sizes[which]
			width := uint64([]int{1, 2, 4, 8}[op>>4&3])
			if off+width > sizes[which] {
				width = 1
			}
			data := make([]byte, width)
			for i := range data {
				data[i] = v + byte(i)
			}
			switch op & 3 {
			case 0:
				devs[which].Read(off, data)
			case 1:
				devs[which].Write(off, data)
			case 2:
				pm.PressPowerButton()
			case 3:
				pm.Reset()
			}
		}
	})
}
