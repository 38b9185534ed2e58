// Command demo opens a VM window on a fake console showing a test pattern, and prints every input event the
// guest would get on standard output ("key 30 down", "pointer X Y BUTTONS WHEEL"). It is for trying the window by
// hand and for the test that drives a real window under Xvfb.
package main

import (
	"flag"
	"fmt"
	"image"
	"io"
	"log"
	"os"
	"time"

	"fyne.io/fyne/v2/app"
	"github.com/jezek/xgb"

	"paddock/ui/gui/vmwindow"
	"paddock/ui/gui/vmwindow/internal/fakeconsole"
)

type config struct {
	title         string
	width, height int
	animate       bool
}

func main() {
	cfg := config{}
	flag.StringVar(&cfg.title, "title", "paddock demo", "window title (the VM name)")
	flag.IntVar(&cfg.width, "width", 640, "guest screen width")
	flag.IntVar(&cfg.height, "height", 400, "guest screen height")
	flag.BoolVar(&cfg.animate, "animate", false, "move a square across the screen, as a busy guest would")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	con, err := fakeconsole.New(cfg.width, cfg.height)
	if err != nil {
		return err
	}
	defer con.Close()
	con.DrawPattern()
	con.SetLog(os.Stdout)

	xgb.Logger = log.New(io.Discard, "", 0) // the X client's notes on a missing ~/.Xauthority
	a := app.NewWithID("org.paddock.demo")
	w := vmwindow.New(a, cfg.title, con, vmwindow.Options{OnClose: a.Quit})
	w.Show()
	if cfg.animate {
		stop := make(chan struct{})
		defer close(stop)
		go animate(con, stop)
	}
	a.Run()
	return nil
}

// animate moves a white square along the middle line, restoring what it covered.
func animate(con *fakeconsole.Console, stop <-chan struct{}) {
	mode := con.Framebuffer().Mode()
	const side = 16
	t := time.NewTicker(30 * time.Millisecond)
	defer t.Stop()
	x := 0
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		y := mode.Height/2 - side/2
		con.DrawPattern()
		con.Fill(image.Rect(x, y, x+side, y+side), fakeconsole.White)
		x = (x + 4) % (mode.Width - side)
	}
}
