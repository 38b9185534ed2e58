package p9

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	msgs := []Msg{
		&Tversion{Msize: 8192, Version: Version},
		&Tattach{Fid: 1, Afid: NoFid, Uname: "u", Aname: "", NUname: 1000},
		&Twalk{Fid: 1, NewFid: 2, Names: []string{"a", "..", "b"}},
		&Rwalk{Qids: []Qid{{Type: QTDIR, Version: 1, Path: 99}}},
		&Tlcreate{Fid: 2, Name: "f", Flags: 0x42, Mode: 0o644, Gid: 7},
		&Tsetattr{Fid: 3, Valid: SetattrMode | SetattrSize, Mode: 0o600, Size: 12},
		&Rgetattr{Valid: GetattrBasic, Qid: Qid{Path: 5}, Mode: 0o100644, Size: 3, MtimeNsec: 9},
		&Twrite{Fid: 4, Offset: 10, Data: []byte("hello")},
		&Trenameat{OldDirFid: 1, OldName: "x", NewDirFid: 2, NewName: "y"},
		&Rstatfs{FsType: 1, BSize: 4096, Blocks: 10, NameLen: 255},
		&Tlock{Fid: 1, LockType: LockTypeWrlck, Start: 1, Length: 2, ProcID: 3, ClientID: "c"},
	}
	for _, m := range msgs {
		b := Marshal(42, m)
		tag, got, err := ReadMsg(bytes.NewReader(b), 1<<16)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if tag != 42 || !reflect.DeepEqual(got, m) {
			t.Errorf("%T: got tag %d %+v, want %+v", m, tag, got, m)
		}
	}
}

func TestHostileMessages(t *testing.T) {
	walk := func(names ...string) []byte { return Marshal(1, &Twalk{Fid: 1, NewFid: 2, Names: names}) }
	tooLong := Marshal(1, &Twalk{Fid: 1, NewFid: 2, Names: make([]string, 17)})
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"slash in walk name": {walk("a/b"), ErrBadString},
		"empty walk name":    {walk(""), ErrBadString},
		"NUL in name":        {walk("a\x00"), ErrBadString},
		"17 names":           {tooLong, ErrTooMany},
		"trailing bytes":     {append(Marshal(1, &Tclunk{Fid: 1}), 0), ErrSize},
		"unknown type":       {Marshal(1, &Rlerror{}), nil},
	}
	for name, c := range cases {
		_, _, err := Unmarshal(c.b)
		if err == nil && c.want != nil {
			t.Errorf("%s: accepted", name)
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", name, err, c.want)
		}
	}
	// A count that claims more data than the message holds.
	b := Marshal(1, &Twrite{Fid: 1, Data: []byte("abc")})
	b[HeaderSize+12] = 0xff
	if _, _, err := Unmarshal(b); !errors.Is(err, ErrShort) {
		t.Errorf("oversized write count: %v", err)
	}
	// Sizes beyond msize or below a header are framing errors.
	big := Marshal(1, &Twrite{Fid: 1, Data: make([]byte, 9000)})
	if _, _, err := ReadMsg(bytes.NewReader(big), 8192); !errors.Is(err, ErrSize) {
		t.Errorf("message over msize: %v", err)
	}
	if _, _, err := ReadMsg(bytes.NewReader([]byte{3, 0, 0, 0}), 8192); !errors.Is(err, ErrSize) {
		t.Errorf("size below header: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for _, s := range []string{"", ".", "..", "a/b", "a\x00", string(make([]byte, 256))} {
		if ValidName(s) {
			t.Errorf("ValidName(%q) = true", s)
		}
	}
	for _, s := range []string{"a", "...", ".hidden", "é"} {
		if !ValidName(s) {
			t.Errorf("ValidName(%q) = false", s)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(Marshal(1, &Twalk{Fid: 1, NewFid: 2, Names: []string{"a", ".."}}))
	f.Add(Marshal(1, &Twrite{Fid: 1, Data: []byte("x")}))
	f.Add(Marshal(1, &Tsetattr{Fid: 1}))
	f.Add(Marshal(1, &Rreaddir{Data: AppendDirent(nil, Dirent{Name: "n"})}))
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, m, err := Unmarshal(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a message that decodes to the same thing.
		_, m2, err := Unmarshal(Marshal(tag, m))
		if err != nil {
			t.Fatalf("re-decoding %T: %v", m, err)
		}
		if !reflect.DeepEqual(m, m2) {
			if _, ok := m.(*Tfsync); !ok {
				t.Fatalf("%T changed: %+v -> %+v", m, m, m2)
			}
		}
		if r, ok := m.(*Rreaddir); ok {
			_, _ = ParseDirents(r.Data)
		}
	})
}
