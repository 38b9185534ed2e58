package manager

import (
	"context"
	"fmt"
	"path/filepath"

	"fyne.io/fyne/v2"

	"paddock/library/iso"
)

// HandleDrop takes files dropped onto the window: an installer ISO opens the New VM wizard with it chosen and the
// system it holds detected; anything else is explained and changes nothing. The file is read off the UI
// goroutine.
func (m *Manager) HandleDrop(uris []fyne.URI) {
	if len(uris) == 0 {
		return
	}
	u := uris[0]
	if u.Scheme() != "file" {
		m.showNotice(fmt.Sprintf("%s is not a file on this computer; drop an ISO file to make a VM from it. "+
			"Nothing was changed.", u.String()), true)
		return
	}
	path := u.Path()
	name := filepath.Base(path)
	more := ""
	if len(uris) > 1 {
		more = fmt.Sprintf(" (one file at a time: the other %d were left alone)", len(uris)-1)
	}
	m.showWorking("Reading " + name + "…" + more)
	background(m, func(context.Context) (iso.Info, error) {
		return iso.Inspect(path)
	}, func(info iso.Info, err error) {
		if err != nil {
			// iso's errors name the file and say what it is instead ("… is not a CD/DVD image (ISO 9660): …").
			m.showNotice(errorText(err)+". Nothing was changed.", true)
			return
		}
		m.clearNotice()
		if more != "" {
			m.showNotice("Using "+name+more+".", false)
		}
		m.OpenWizard(&Prefill{ISOPath: path, Info: &info})
	})
}
