package manager

import (
	"context"
	"errors"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"paddock/engine/control"
	"paddock/library"
	"paddock/tests/media"
	"paddock/tests/testenv"
	"paddock/ui/vmctl"
)

// writeFile makes a small file in a test directory, as a kernel or an image a user picks.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEmptyLibraryInvitesToCreate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if h.m.empty.Hidden || !contains(h.m.empty.Text, "New VM") || !contains(h.m.empty.Text, "drop") {
		t.Errorf("an empty library shows %q (hidden %v); want an invitation to create a VM or drop an ISO",
			h.m.empty.Text, h.m.empty.Hidden)
	}
	for _, b := range []fyne.Disableable{h.m.startBtn, h.m.shutdownBtn, h.m.powerOffBtn, h.m.displayBtn,
		h.m.settingsBtn, h.m.deleteBtn} {
		if !b.Disabled() {
			t.Errorf("an action is enabled with no VM selected: %T %v", b, b)
		}
	}
	if h.m.newBtn.Disabled() {
		t.Error("New VM is disabled")
	}
}

func TestWizardDefaultsAndValidation(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.createVM(library.VMSpec{Name: "Taken"})
	h.refresh()

	test.Tap(h.m.newBtn)
	w := h.m.wizard
	if w == nil {
		t.Fatal("New VM did not open the wizard")
	}
	want := vmctl.DefaultSizing(nil, testLimits)
	if w.cpus.Text != strconv.Itoa(want.CPUs) || w.memory.Text != strconv.Itoa(want.MemoryMiB) ||
		w.disk.Text != strconv.Itoa(want.DiskGiB) {
		t.Errorf("defaults: %s CPUs, %s MiB, %s GiB; want %+v", w.cpus.Text, w.memory.Text, w.disk.Text, want)
	}
	if want.CPUs != 2 || want.MemoryMiB != 2048 || want.DiskGiB != 20 {
		t.Errorf("on an 8-CPU 16 GiB host the defaults are %+v, want 2 CPUs, 2048 MiB, 20 GiB", want)
	}
	if w.name.Text != "New VM" {
		t.Errorf("suggested name %q, want %q", w.name.Text, "New VM")
	}

	check := func(field, wantSub string) {
		t.Helper()
		test.Tap(w.create)
		h.drain()
		if got := w.fieldError(field); !contains(got, wantSub) {
			t.Errorf("%s error %q, want it to say %q", field, got, wantSub)
		}
		if h.m.wizard != w {
			t.Fatal("the wizard closed on invalid input")
		}
	}
	// ISO chosen as the source but none given.
	check(fieldISO, "choose an installer ISO")

	kernel := writeFile(t, "vmlinuz", []byte("not really a kernel"))
	w.source.SetSelected(SourceKernel)
	w.kernel.SetText(kernel)

	w.name.SetText("")
	check(fieldName, "must not be empty")
	w.name.SetText("bad/name")
	check(fieldName, "may contain only")
	w.name.SetText("taken") // names compare without regard to case
	check(fieldName, "already exists")
	w.name.SetText("Fresh")

	for _, c := range []struct{ cpus, mem, disk, field, want string }{
		{"0", "512", "0", fieldCPUs, "between 1 and 8"},
		{"9", "512", "0", fieldCPUs, "between 1 and 8"},
		{"two", "512", "0", fieldCPUs, "whole number"},
		{"1", "32", "0", fieldMemory, "between 64 and 16384"},
		{"1", "16385", "0", fieldMemory, "between 64 and 16384"},
		{"1", "512", "-1", fieldDisk, "between 0"},
	} {
		w.cpus.SetText(c.cpus)
		w.memory.SetText(c.mem)
		w.disk.SetText(c.disk)
		check(c.field, c.want)
	}
	if vms, _ := h.lib.ListVMs(context.Background()); len(vms) != 1 {
		t.Fatalf("invalid input created VMs: %d in the library", len(vms))
	}

	// A name taken behind the window's back: the library refuses, the field says so.
	h.createVM(library.VMSpec{Name: "Sneaky"})
	w.name.SetText("Sneaky")
	w.cpus.SetText("1")
	w.memory.SetText("256")
	w.disk.SetText("1")
	test.Tap(w.create)
	h.pump("the library's refusal", func() bool { return w.fieldError(fieldName) != "" || h.m.wizard == nil })
	if !contains(w.fieldError(fieldName), "already exists") {
		t.Errorf("name error %q after the library refused a taken name", w.fieldError(fieldName))
	}

	// Valid at last: the VM is made, with its disk, and shows in the list, selected.
	w.name.SetText("Fresh")
	test.Tap(w.create)
	h.pump("the wizard to close", func() bool { return h.m.wizard == nil })
	vm, err := h.lib.GetVM(context.Background(), "Fresh")
	if err != nil {
		t.Fatal(err)
	}
	if vm.Boot != library.BootDirect || vm.Kernel != kernel || vm.CPUs != 1 || vm.MemoryMiB != 256 || vm.OS != DirectBootOS {
		t.Errorf("created %+v", vm.VMSpec)
	}
	if len(vm.Disks) != 1 || vm.Disks[0].SizeBytes != 1<<30 {
		t.Errorf("created disks %+v, want one of 1 GiB", vm.Disks)
	}
	r := h.row("Fresh")
	if r.state.Text != "Stopped" || r.specs.Text != "1 vCPU · 256 MiB" || r.os.Text != DirectBootOS {
		t.Errorf("row shows %q / %q / %q", r.state.Text, r.specs.Text, r.os.Text)
	}
	if h.m.selected != vm.ID {
		t.Error("the new VM is not selected")
	}
	if !contains(h.m.Notice(), "Created Fresh") {
		t.Errorf("notice %q", h.m.Notice())
	}
}

func TestDropISOFillsWizardAndCreates(t *testing.T) {
	testenv.RequireKVM(t)
	testenv.RequireFirmware(t)
	path := media.Get(t, media.DebianNetinst())
	h := newHarness(t, harnessOptions{program: paddockBinary(t), opts: Options{NoDisplayOnStart: true}})
	h.m.HandleDrop([]fyne.URI{storage.NewFileURI(path)})
	h.pump("the wizard with the ISO read", func() bool { return h.m.wizard != nil && !h.m.wizard.reading })
	w := h.m.wizard
	if got := w.detected(); !contains(got, "Debian 12.5.0 netinst") {
		t.Errorf("the wizard says %q of a Debian netinst", got)
	}
	if w.isoPath.Text != path || w.source.Selected != SourceISO {
		t.Errorf("ISO field %q, source %q", w.isoPath.Text, w.source.Selected)
	}
	if w.name.Text != "Debian 12.5.0 netinst" {
		t.Errorf("suggested name %q", w.name.Text)
	}
	// One more click makes the VM and boots it through the firmware: its blank disk first, then the ISO.
	w.memory.SetText("256")
	test.Tap(w.start)
	h.pump("the VM in the list", func() bool { return h.m.wizard == nil && len(h.m.vms) == 1 })
	h.pump("the start's outcome", func() bool { return h.m.busy[h.m.vms[0].ID] == "" })
	vm := h.m.vms[0]
	if vm.ISO != path || vm.OS != "Debian 12.5.0 netinst" || vm.Boot != library.BootFirmware || len(vm.Disks) != 1 {
		t.Errorf("created %+v with %d disks", vm.VMSpec, len(vm.Disks))
	}
	h.waitState(vm.ID, library.StateRunning)
	serial := filepath.Join(h.lib.VMDir(vm.ID), vmctl.SerialLogName)
	h.pump("the firmware booting the ISO", func() bool {
		out, _ := os.ReadFile(serial)
		return strings.Contains(string(out), "Booting from DVD/CD")
	})
	out, _ := os.ReadFile(serial)
	if hd := strings.Index(string(out), "Booting from Hard Disk"); hd < 0 || hd > strings.Index(string(out), "Booting from DVD/CD") {
		t.Errorf("the blank disk was not tried before the ISO:\n%s", out)
	}

	// "Eject ISO" (the VM window's button) empties the running VM's drive at once, and the library's record.
	h.m.EjectISO(vm.ID, nil)
	h.pump("the eject", func() bool {
		v, err := h.lib.GetVM(context.Background(), vm.ID)
		return err == nil && v.ISO == ""
	})
	cl, err := vmctl.Dial(vm)
	if err != nil {
		t.Fatal(err)
	}
	var st control.Status
	err = cl.Call(control.OpStatus, nil, &st)
	cl.Close()
	if err != nil || st.CDROM != "(empty)" {
		t.Errorf("after the eject the VM's drive holds %q (%v)", st.CDROM, err)
	}
	if err := h.ctl.Stop(context.Background(), vm.ID, true); err != nil && !errors.Is(err, vmctl.ErrNotRunning) {
		t.Fatal(err)
	}
	h.pump("the VM ended", func() bool {
		h.refresh()
		v, _ := h.m.vm(vm.ID)
		return !v.State.Active()
	})
}

func TestDropOtherISOs(t *testing.T) {
	unknown := media.Get(t, media.UnknownBootable())
	data := media.Get(t, media.DataOnly())
	h := newHarness(t, harnessOptions{})

	h.m.HandleDrop([]fyne.URI{storage.NewFileURI(unknown)})
	h.pump("the wizard", func() bool { return h.m.wizard != nil && !h.m.wizard.reading })
	w := h.m.wizard
	if !contains(w.detected(), "Unknown, bootable") {
		t.Errorf("unknown bootable ISO detected as %q", w.detected())
	}

	// A second drop goes into the open wizard: a data disc is an ISO, but nothing to install from.
	h.m.HandleDrop([]fyne.URI{storage.NewFileURI(data)})
	h.pump("the data disc read", func() bool { return w.isoPath.Text == data && !w.reading && w.fieldError(fieldISO) != "" })
	if got := w.fieldError(fieldISO); !contains(got, "not a bootable ISO") || !contains(got, "El Torito") {
		t.Errorf("a data disc shows %q", got)
	}
	test.Tap(w.create)
	h.drain()
	if h.m.wizard == nil {
		t.Fatal("a VM was made from a data disc")
	}
	if vms, _ := h.lib.ListVMs(context.Background()); len(vms) != 0 {
		t.Errorf("%d VMs in the library", len(vms))
	}
}

func TestDropNotAnISOChangesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, c := range []struct {
		what, path, want string
	}{
		{"a text file", media.Text(t), "file.txt is not a CD/DVD image"},
		{"an empty file", media.Empty(t), "empty.iso is not a CD/DVD image"},
		{"a folder", media.Directory(t), "folder"},
		{"a missing file", filepath.Join(t.TempDir(), "gone.iso"), "gone.iso cannot be read"},
	} {
		h.m.HandleDrop([]fyne.URI{storage.NewFileURI(c.path)})
		h.pump("the verdict on "+c.what, func() bool { return contains(h.m.Notice(), "nothing was changed") })
		if !contains(h.m.Notice(), c.want) {
			t.Errorf("dropping %s says %q; want %q", c.what, h.m.Notice(), c.want)
		}
		if h.m.wizard != nil {
			t.Errorf("dropping %s opened the wizard", c.what)
		}
		h.m.clearNotice()
	}
	u, err := storage.ParseURI("https://example.com/debian.iso")
	if err != nil {
		t.Fatal(err)
	}
	h.m.HandleDrop([]fyne.URI{u})
	if !contains(h.m.Notice(), "not a file on this computer") {
		t.Errorf("dropping a web address says %q", h.m.Notice())
	}
	h.refresh()
	if vms, _ := h.lib.ListVMs(context.Background()); len(vms) != 0 || len(h.m.vms) != 0 {
		t.Errorf("drops created VMs")
	}
}

func TestListShowsStateChanges(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	vm := h.createVM(library.VMSpec{Name: "alpha", OS: "Alpine 3.19", CPUs: 2, MemoryMiB: 1536})
	h.refresh()
	r := h.row("alpha")
	if r.state.Text != "Stopped" || r.os.Text != "Alpine 3.19" || r.specs.Text != "2 vCPUs · 1.5 GiB" {
		t.Errorf("row: %q %q %q", r.state.Text, r.os.Text, r.specs.Text)
	}
	if !r.thumb.Hidden || r.placeholder.Hidden {
		t.Error("a stopped VM shows a thumbnail")
	}

	// Running, with a VMM answering: the row says so and shows the screen.
	f := startFakeVMM(t, vm, 320, 200)
	f.fill(0x00ff0000)
	if err := h.lib.SetState(ctx, vm.ID, library.StateRunning, ""); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	if got := h.row("alpha").state.Text; got != "Running" {
		t.Errorf("running VM shows %q", got)
	}
	h.pump("a thumbnail", func() bool { return h.m.Thumbnail(vm.ID) != nil })
	if got := h.m.Thumbnail(vm.ID).At(10, 10); color.RGBAModel.Convert(got) != (color.RGBA{R: 0xff, A: 0xff}) {
		t.Errorf("thumbnail of a red screen is %v", got)
	}
	r = h.row("alpha")
	if r.thumb.Hidden || r.thumb.Image == nil {
		t.Error("the running VM's row shows no thumbnail")
	}
	// The guest draws: the thumbnail follows.
	f.fill(0x000000ff)
	h.pump("the thumbnail to turn blue", func() bool {
		return color.RGBAModel.Convert(h.m.Thumbnail(vm.ID).At(10, 10)) == color.RGBA{B: 0xff, A: 0xff}
	})

	// The VMM vanishes: the window shows a crash, with the reason vmctl found.
	f.close()
	h.refresh()
	if got := h.row("alpha").state.Text; !contains(got, "Crashed: the VM's process ended") {
		t.Errorf("after the VMM vanished the row says %q", got)
	}
	if !contains(h.m.Notice(), "alpha crashed") {
		t.Errorf("notice %q", h.m.Notice())
	}
	if h.m.Thumbnail(vm.ID) != nil {
		t.Error("a crashed VM keeps its thumbnail")
	}

	// A state recorded by another Paddock (the CLI) shows up on refresh.
	if err := h.lib.SetState(ctx, vm.ID, library.StateCrashed, "triple fault at 0x1000"); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	if got := h.row("alpha").state.Text; got != "Crashed: triple fault at 0x1000" {
		t.Errorf("row says %q", got)
	}
	h.m.Select(vm.ID)
	if h.m.startBtn.Disabled() || !h.m.powerOffBtn.Disabled() || h.m.deleteBtn.Disabled() {
		t.Error("a crashed VM cannot be started or deleted, or can be powered off")
	}
	// Another process is starting it: the window leaves the fresh "starting" alone.
	if err := h.lib.SetState(ctx, vm.ID, library.StateStarting, ""); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	if got := h.row("alpha").state.Text; got != "Starting…" {
		t.Errorf("a VM being started elsewhere shows %q", got)
	}
	if err := h.lib.SetState(ctx, vm.ID, library.StateStopped, ""); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	if got := h.row("alpha").state.Text; got != "Stopped" {
		t.Errorf("row says %q", got)
	}
}

func TestShutDownPowerOffAndOpenDisplay(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	vm := h.createVM(library.VMSpec{Name: "beta"})
	f := startFakeVMM(t, vm, 320, 200)
	if err := h.lib.SetState(context.Background(), vm.ID, library.StateRunning, ""); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	h.m.Select(vm.ID)
	if h.m.shutdownBtn.Disabled() || h.m.powerOffBtn.Disabled() || h.m.displayBtn.Disabled() || !h.m.startBtn.Disabled() || !h.m.deleteBtn.Disabled() {
		t.Error("the buttons do not match a running VM")
	}

	test.DoubleTap(h.row("beta"))
	h.pump("the display window", func() bool { return h.m.DisplayOpen(vm.ID) })
	if !f.saw("framebuffer") {
		t.Error("the display window did not map the VM's screen")
	}

	test.Tap(h.m.shutdownBtn)
	h.pump("the power button", func() bool { return f.saw("stop") && h.m.busy[vm.ID] == "" })
	if !contains(h.m.Notice(), "asked to shut down") {
		t.Errorf("notice %q", h.m.Notice())
	}
	test.Tap(h.m.powerOffBtn)
	h.pump("the power off", func() bool { return f.saw("poweroff") && h.m.busy[vm.ID] == "" })

	// The VMM ends cleanly: stopped, and its display window closes with it.
	if err := os.WriteFile(filepath.Join(h.lib.VMDir(vm.ID), vmctl.VMMLogName), []byte(`level=INFO msg="VM running"`+"\n"+`level=INFO msg="VM ended"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.close()
	h.refresh()
	if got := h.row("beta").state.Text; got != "Stopped" {
		t.Errorf("after a clean end the row says %q", got)
	}
	if h.m.DisplayOpen(vm.ID) {
		t.Error("the display window stayed open after the VM ended")
	}
}

func TestDeleteAsksAndHonoursKeepDisks(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	keep := h.createVM(library.VMSpec{Name: "keeper"})
	drop := h.createVM(library.VMSpec{Name: "dropper"})
	kd, err := h.lib.CreateDisk(ctx, keep.ID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	dd, err := h.lib.CreateDisk(ctx, drop.ID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	h.refresh()

	h.m.Select(keep.ID)
	test.Tap(h.m.deleteBtn)
	p := h.m.prompt
	if p == nil || !contains(p.message, "Delete keeper?") || p.keep == nil {
		t.Fatalf("Delete did not ask first: %+v", p)
	}
	test.Tap(p.cancel)
	h.refresh()
	if len(h.m.vms) != 2 {
		t.Fatal("Cancel deleted the VM")
	}

	test.Tap(h.m.deleteBtn)
	p = h.m.prompt
	test.Tap(p.keep)
	test.Tap(p.ok)
	h.pump("keeper gone", func() bool { _, ok := h.m.vm(keep.ID); return !ok && h.m.busy[keep.ID] == "" })
	if _, err := os.Stat(kd.Path); err != nil {
		t.Errorf("keep disks lost the disk: %v", err)
	}
	if !contains(h.m.Notice(), "kept") {
		t.Errorf("notice %q", h.m.Notice())
	}

	h.m.Select(drop.ID)
	test.Tap(h.m.deleteBtn)
	test.Tap(h.m.prompt.ok)
	h.pump("dropper gone", func() bool { _, ok := h.m.vm(drop.ID); return !ok && h.m.busy[drop.ID] == "" })
	if _, err := os.Stat(dd.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the disk of a VM deleted without keeping disks: %v", err)
	}
	if vms, _ := h.lib.ListVMs(ctx); len(vms) != 0 {
		t.Errorf("%d VMs left", len(vms))
	}
}

func TestSettingsRefuseStoppedOnlyChangesWhileRunning(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	vm := h.createVM(library.VMSpec{Name: "gamma", CPUs: 2, MemoryMiB: 512})
	startFakeVMM(t, vm, 320, 200)
	if err := h.lib.SetState(ctx, vm.ID, library.StateRunning, ""); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	h.m.Select(vm.ID)
	test.Tap(h.m.settingsBtn)
	s := h.m.settings[vm.ID]
	if s == nil {
		t.Fatal("Settings did not open")
	}
	if s.running.Hidden || !s.cpus.Disabled() || !s.addDisk.Disabled() {
		t.Error("a running VM's settings do not say what cannot change, or let CPUs or disks change")
	}
	// Even typed in (the field is disabled, so through the code path), a CPU change is refused and nothing saved.
	s.cpus.SetText("4")
	test.Tap(s.save)
	h.drain()
	if !contains(s.fieldError(fieldCPUs), "cannot change while the VM is running") {
		t.Errorf("CPU error %q", s.fieldError(fieldCPUs))
	}
	if got, _ := h.lib.GetVM(ctx, vm.ID); got.CPUs != 2 {
		t.Errorf("CPUs became %d while running", got.CPUs)
	}
	// The name may change while it runs.
	s.cpus.SetText("2")
	s.name.SetText("gamma-2")
	test.Tap(s.save)
	h.pump("the rename", func() bool { return contains(s.status.Text, "saved") && !s.busy })
	if got, _ := h.lib.GetVM(ctx, vm.ID); got.Name != "gamma-2" {
		t.Errorf("rename while running: %q (%s)", got.Name, s.status.Text)
	}
}

func TestSettingsEditStoppedVM(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	vm := h.createVM(library.VMSpec{Name: "delta", CPUs: 1, MemoryMiB: 256})
	h.createVM(library.VMSpec{Name: "other"})
	h.refresh()
	h.m.OpenSettings(vm.ID)
	s := h.m.settings[vm.ID]
	if !s.running.Hidden || s.cpus.Disabled() {
		t.Fatal("a stopped VM's settings are restricted")
	}
	save := func() {
		t.Helper()
		test.Tap(s.save)
		h.pump("the save", func() bool { return !s.busy && s.status.Text != "Saving…" })
	}

	s.cpus.SetText("99")
	save()
	if !contains(s.fieldError(fieldCPUs), "between 1 and 8") {
		t.Errorf("CPU error %q", s.fieldError(fieldCPUs))
	}
	s.cpus.SetText("3")
	s.name.SetText("OTHER")
	save()
	if !contains(s.fieldError(fieldName), "already exists") {
		t.Errorf("name error %q", s.fieldError(fieldName))
	}
	s.name.SetText("delta")
	s.memory.SetText("768")
	s.resolution.SetSelected("1280x800")
	s.bootOrder.SetSelected("CD-ROM, then disk")
	save()
	got, err := h.lib.GetVM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.CPUs != 3 || got.MemoryMiB != 768 || got.ScreenWidth != 1280 || got.ScreenHeight != 800 || got.BootOrder != "cdrom,disk" {
		t.Errorf("saved %+v (status %q)", got.VMSpec, s.status.Text)
	}

	// A change made elsewhere meanwhile is not overwritten.
	if _, err := h.lib.UpdateVM(ctx, vm.ID, library.VMUpdate{CPUs: ptr(5)}); err != nil {
		t.Fatal(err)
	}
	s.memory.SetText("1024")
	save()
	h.pump("the reload", func() bool { return s.cpus.Text == "5" })
	if got, _ := h.lib.GetVM(ctx, vm.ID); got.MemoryMiB != 768 {
		t.Errorf("a conflicting save went through: memory %d", got.MemoryMiB)
	}

	// Disks: add one, make it read-only, attach an image, remove one; the ISO: insert, eject.
	s.addSize.SetText("2")
	test.Tap(s.addDisk)
	h.pump("the new disk", func() bool { return !s.busy && len(s.vm.Disks) == 1 })
	s.setReadOnly(s.vm.Disks[0], true)
	h.pump("read-only", func() bool { return !s.busy && s.vm.Disks[0].ReadOnly })
	img := writeFile(t, "data.img", make([]byte, 1<<20))
	s.AttachImage(img, false)
	h.pump("the attached image", func() bool { return !s.busy && len(s.vm.Disks) == 2 })
	own := s.vm.Disks[0]
	s.askRemove(own)
	test.Tap(s.prompt.keep) // also delete the image Paddock made
	test.Tap(s.prompt.ok)
	h.pump("the removal", func() bool { return !s.busy && len(s.vm.Disks) == 1 })
	if _, err := os.Stat(own.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the removed disk's image is still there: %v", err)
	}
	if s.vm.Disks[0].Path != img {
		t.Errorf("left with %+v", s.vm.Disks)
	}
	txt := media.Text(t)
	s.InsertISO(txt)
	h.pump("the refusal", func() bool { return !s.busy })
	if !contains(s.status.Text, "not a CD/DVD image") || s.vm.ISO != "" {
		t.Errorf("inserting a text file: %q, ISO %q", s.status.Text, s.vm.ISO)
	}
}

func ptr[T any](v T) *T { return &v }

func TestQuitAsksWhenVMsRun(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	vm := h.createVM(library.VMSpec{Name: "epsilon"})
	f := startFakeVMM(t, vm, 320, 200)
	if err := h.lib.SetState(context.Background(), vm.ID, library.StateRunning, ""); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	h.m.RequestQuit()
	p := h.m.prompt
	if p == nil || !contains(p.message, "epsilon is still running") || !contains(p.message, "leaves them running") {
		t.Fatalf("quitting with a running VM did not ask: %+v", p)
	}
	test.Tap(p.cancel)
	test.Tap(h.m.powerOffBtn) // nothing selected: harmless
	h.m.RequestQuit()
	test.Tap(h.m.prompt.ok)
	if f.saw("stop") || f.saw("poweroff") {
		t.Error("quitting stopped the VM")
	}
	if got, _ := h.lib.GetVM(context.Background(), vm.ID); got.State != library.StateRunning {
		t.Errorf("after quitting the VM is recorded %s", got.State)
	}
}
