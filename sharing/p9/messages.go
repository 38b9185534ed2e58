package p9

// Message type numbers of 9P2000 and 9P2000.L.
const (
	MsgRlerror     uint8 = 7
	MsgTstatfs     uint8 = 8
	MsgRstatfs     uint8 = 9
	MsgTlopen      uint8 = 12
	MsgRlopen      uint8 = 13
	MsgTlcreate    uint8 = 14
	MsgRlcreate    uint8 = 15
	MsgTsymlink    uint8 = 16
	MsgRsymlink    uint8 = 17
	MsgTmknod      uint8 = 18
	MsgRmknod      uint8 = 19
	MsgTrename     uint8 = 20
	MsgRrename     uint8 = 21
	MsgTreadlink   uint8 = 22
	MsgRreadlink   uint8 = 23
	MsgTgetattr    uint8 = 24
	MsgRgetattr    uint8 = 25
	MsgTsetattr    uint8 = 26
	MsgRsetattr    uint8 = 27
	MsgTxattrwalk  uint8 = 30
	MsgRxattrwalk  uint8 = 31
	MsgTxattrcreat uint8 = 32
	MsgRxattrcreat uint8 = 33
	MsgTreaddir    uint8 = 40
	MsgRreaddir    uint8 = 41
	MsgTfsync      uint8 = 50
	MsgRfsync      uint8 = 51
	MsgTlock       uint8 = 52
	MsgRlock       uint8 = 53
	MsgTgetlock    uint8 = 54
	MsgRgetlock    uint8 = 55
	MsgTlink       uint8 = 70
	MsgRlink       uint8 = 71
	MsgTmkdir      uint8 = 72
	MsgRmkdir      uint8 = 73
	MsgTrenameat   uint8 = 74
	MsgRrenameat   uint8 = 75
	MsgTunlinkat   uint8 = 76
	MsgRunlinkat   uint8 = 77
	MsgTversion    uint8 = 100
	MsgRversion    uint8 = 101
	MsgTauth       uint8 = 102
	MsgRauth       uint8 = 103
	MsgTattach     uint8 = 104
	MsgRattach     uint8 = 105
	MsgTflush      uint8 = 108
	MsgRflush      uint8 = 109
	MsgTwalk       uint8 = 110
	MsgRwalk       uint8 = 111
	MsgTread       uint8 = 116
	MsgRread       uint8 = 117
	MsgTwrite      uint8 = 118
	MsgRwrite      uint8 = 119
	MsgTclunk      uint8 = 120
	MsgRclunk      uint8 = 121
	MsgTremove     uint8 = 122
	MsgRremove     uint8 = 123
)

func newMsg(t uint8) Msg {
	switch t {
	case MsgRlerror:
		return &Rlerror{}
	case MsgTstatfs:
		return &Tstatfs{}
	case MsgRstatfs:
		return &Rstatfs{}
	case MsgTlopen:
		return &Tlopen{}
	case MsgRlopen:
		return &Rlopen{}
	case MsgTlcreate:
		return &Tlcreate{}
	case MsgRlcreate:
		return &Rlcreate{}
	case MsgTsymlink:
		return &Tsymlink{}
	case MsgRsymlink:
		return &Rsymlink{}
	case MsgTmknod:
		return &Tmknod{}
	case MsgTrename:
		return &Trename{}
	case MsgTreadlink:
		return &Treadlink{}
	case MsgRreadlink:
		return &Rreadlink{}
	case MsgTgetattr:
		return &Tgetattr{}
	case MsgRgetattr:
		return &Rgetattr{}
	case MsgTsetattr:
		return &Tsetattr{}
	case MsgRsetattr:
		return &Rsetattr{}
	case MsgTxattrwalk:
		return &Txattrwalk{}
	case MsgRxattrwalk:
		return &Rxattrwalk{}
	case MsgTxattrcreat:
		return &Txattrcreate{}
	case MsgTreaddir:
		return &Treaddir{}
	case MsgRreaddir:
		return &Rreaddir{}
	case MsgTfsync:
		return &Tfsync{}
	case MsgRfsync:
		return &Rfsync{}
	case MsgTlock:
		return &Tlock{}
	case MsgRlock:
		return &Rlock{}
	case MsgTgetlock:
		return &Tgetlock{}
	case MsgRgetlock:
		return &Rgetlock{}
	case MsgTlink:
		return &Tlink{}
	case MsgTmkdir:
		return &Tmkdir{}
	case MsgRmkdir:
		return &Rmkdir{}
	case MsgTrenameat:
		return &Trenameat{}
	case MsgRrenameat:
		return &Rrenameat{}
	case MsgTunlinkat:
		return &Tunlinkat{}
	case MsgRunlinkat:
		return &Runlinkat{}
	case MsgTversion:
		return &Tversion{}
	case MsgRversion:
		return &Rversion{}
	case MsgTauth:
		return &Tauth{}
	case MsgTattach:
		return &Tattach{}
	case MsgRattach:
		return &Rattach{}
	case MsgTflush:
		return &Tflush{}
	case MsgRflush:
		return &Rflush{}
	case MsgTwalk:
		return &Twalk{}
	case MsgRwalk:
		return &Rwalk{}
	case MsgTread:
		return &Tread{}
	case MsgRread:
		return &Rread{}
	case MsgTwrite:
		return &Twrite{}
	case MsgRwrite:
		return &Rwrite{}
	case MsgTclunk:
		return &Tclunk{}
	case MsgRclunk:
		return &Rclunk{}
	case MsgTremove:
		return &Tremove{}
	}
	return nil
}

// empty is a message with no body.
type empty struct{}

func (empty) encode(*encoder) {}
func (empty) decode(*decoder) {}

// Rlerror reports a Linux errno.
type Rlerror struct{ Ecode uint32 }

func (*Rlerror) Type() uint8         { return MsgRlerror }
func (m *Rlerror) encode(e *encoder) { e.u32(m.Ecode) }
func (m *Rlerror) decode(d *decoder) { m.Ecode = d.u32() }

// Tversion negotiates msize and the dialect.
type Tversion struct {
	Msize   uint32
	Version string
}

func (*Tversion) Type() uint8         { return MsgTversion }
func (m *Tversion) encode(e *encoder) { e.u32(m.Msize); e.str(m.Version) }
func (m *Tversion) decode(d *decoder) { m.Msize = d.u32(); m.Version = d.str() }

// Rversion answers Tversion.
type Rversion struct {
	Msize   uint32
	Version string
}

func (*Rversion) Type() uint8         { return MsgRversion }
func (m *Rversion) encode(e *encoder) { e.u32(m.Msize); e.str(m.Version) }
func (m *Rversion) decode(d *decoder) { m.Msize = d.u32(); m.Version = d.str() }

// Tauth asks for an authentication fid; this server has none.
type Tauth struct {
	Afid         uint32
	Uname, Aname string
	NUname       uint32
}

func (*Tauth) Type() uint8 { return MsgTauth }
func (m *Tauth) encode(e *encoder) {
	e.u32(m.Afid)
	e.str(m.Uname)
	e.str(m.Aname)
	e.u32(m.NUname)
}
func (m *Tauth) decode(d *decoder) {
	m.Afid, m.Uname, m.Aname, m.NUname = d.u32(), d.str(), d.str(), d.u32()
}

// Tattach makes fid the root of the share.
type Tattach struct {
	Fid, Afid    uint32
	Uname, Aname string
	NUname       uint32
}

func (*Tattach) Type() uint8 { return MsgTattach }
func (m *Tattach) encode(e *encoder) {
	e.u32(m.Fid)
	e.u32(m.Afid)
	e.str(m.Uname)
	e.str(m.Aname)
	e.u32(m.NUname)
}
func (m *Tattach) decode(d *decoder) {
	m.Fid, m.Afid, m.Uname, m.Aname, m.NUname = d.u32(), d.u32(), d.str(), d.str(), d.u32()
}

// Rattach answers Tattach with the root's qid.
type Rattach struct{ Qid Qid }

func (*Rattach) Type() uint8         { return MsgRattach }
func (m *Rattach) encode(e *encoder) { e.qid(m.Qid) }
func (m *Rattach) decode(d *decoder) { m.Qid = d.qid() }

// Tflush cancels the request tagged OldTag.
type Tflush struct{ OldTag uint16 }

func (*Tflush) Type() uint8         { return MsgTflush }
func (m *Tflush) encode(e *encoder) { e.u16(m.OldTag) }
func (m *Tflush) decode(d *decoder) { m.OldTag = d.u16() }

// Rflush answers Tflush.
type Rflush struct{ empty }

func (*Rflush) Type() uint8 { return MsgRflush }

// Twalk walks from Fid through Names and calls the result NewFid.
type Twalk struct {
	Fid, NewFid uint32
	Names       []string
}

func (*Twalk) Type() uint8 { return MsgTwalk }
func (m *Twalk) encode(e *encoder) {
	e.u32(m.Fid)
	e.u32(m.NewFid)
	e.u16(uint16(len(m.Names)))
	for _, n := range m.Names {
		e.str(n)
	}
}
func (m *Twalk) decode(d *decoder) {
	m.Fid, m.NewFid = d.u32(), d.u32()
	n := d.u16()
	if n > MaxWalk {
		d.err = ErrTooMany
		return
	}
	m.Names = make([]string, 0, n)
	for range n {
		s := d.str()
		if d.err != nil {
			return
		}
		// A walk name is one path element: ".." is allowed (the server keeps it inside the share), '/' never.
		if s == "" || containsSlash(s) {
			d.err = ErrBadString
			return
		}
		m.Names = append(m.Names, s)
	}
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

// Rwalk answers Twalk with a qid per name walked.
type Rwalk struct{ Qids []Qid }

func (*Rwalk) Type() uint8 { return MsgRwalk }
func (m *Rwalk) encode(e *encoder) {
	e.u16(uint16(len(m.Qids)))
	for _, q := range m.Qids {
		e.qid(q)
	}
}
func (m *Rwalk) decode(d *decoder) {
	n := d.u16()
	if n > MaxWalk {
		d.err = ErrTooMany
		return
	}
	m.Qids = make([]Qid, 0, n)
	for range n {
		m.Qids = append(m.Qids, d.qid())
	}
}

// Tlopen opens Fid with Linux open flags.
type Tlopen struct{ Fid, Flags uint32 }

func (*Tlopen) Type() uint8         { return MsgTlopen }
func (m *Tlopen) encode(e *encoder) { e.u32(m.Fid); e.u32(m.Flags) }
func (m *Tlopen) decode(d *decoder) { m.Fid, m.Flags = d.u32(), d.u32() }

// Rlopen answers Tlopen.
type Rlopen struct {
	Qid    Qid
	IOUnit uint32
}

func (*Rlopen) Type() uint8         { return MsgRlopen }
func (m *Rlopen) encode(e *encoder) { e.qid(m.Qid); e.u32(m.IOUnit) }
func (m *Rlopen) decode(d *decoder) { m.Qid, m.IOUnit = d.qid(), d.u32() }

// Tlcreate creates and opens Name in directory Fid, which then names the new file.
type Tlcreate struct {
	Fid              uint32
	Name             string
	Flags, Mode, Gid uint32
}

func (*Tlcreate) Type() uint8 { return MsgTlcreate }
func (m *Tlcreate) encode(e *encoder) {
	e.u32(m.Fid)
	e.str(m.Name)
	e.u32(m.Flags)
	e.u32(m.Mode)
	e.u32(m.Gid)
}
func (m *Tlcreate) decode(d *decoder) {
	m.Fid, m.Name, m.Flags, m.Mode, m.Gid = d.u32(), d.str(), d.u32(), d.u32(), d.u32()
}

// Rlcreate answers Tlcreate.
type Rlcreate struct {
	Qid    Qid
	IOUnit uint32
}

func (*Rlcreate) Type() uint8         { return MsgRlcreate }
func (m *Rlcreate) encode(e *encoder) { e.qid(m.Qid); e.u32(m.IOUnit) }
func (m *Rlcreate) decode(d *decoder) { m.Qid, m.IOUnit = d.qid(), d.u32() }

// Tsymlink creates symlink Name -> Target in directory Fid.
type Tsymlink struct {
	Fid          uint32
	Name, Target string
	Gid          uint32
}

func (*Tsymlink) Type() uint8 { return MsgTsymlink }
func (m *Tsymlink) encode(e *encoder) {
	e.u32(m.Fid)
	e.str(m.Name)
	e.str(m.Target)
	e.u32(m.Gid)
}
func (m *Tsymlink) decode(d *decoder) {
	m.Fid, m.Name, m.Target, m.Gid = d.u32(), d.str(), d.str(), d.u32()
}

// Rsymlink answers Tsymlink.
type Rsymlink struct{ Qid Qid }

func (*Rsymlink) Type() uint8         { return MsgRsymlink }
func (m *Rsymlink) encode(e *encoder) { e.qid(m.Qid) }
func (m *Rsymlink) decode(d *decoder) { m.Qid = d.qid() }

// Tmknod asks for a device node, FIFO or socket; always refused.
type Tmknod struct {
	Dfid                    uint32
	Name                    string
	Mode, Major, Minor, Gid uint32
}

func (*Tmknod) Type() uint8 { return MsgTmknod }
func (m *Tmknod) encode(e *encoder) {
	e.u32(m.Dfid)
	e.str(m.Name)
	e.u32(m.Mode)
	e.u32(m.Major)
	e.u32(m.Minor)
	e.u32(m.Gid)
}
func (m *Tmknod) decode(d *decoder) {
	m.Dfid, m.Name, m.Mode, m.Major, m.Minor, m.Gid = d.u32(), d.str(), d.u32(), d.u32(), d.u32(), d.u32()
}

// Trename moves Fid into directory Dfid as Name.
type Trename struct {
	Fid, Dfid uint32
	Name      string
}

func (*Trename) Type() uint8         { return MsgTrename }
func (m *Trename) encode(e *encoder) { e.u32(m.Fid); e.u32(m.Dfid); e.str(m.Name) }
func (m *Trename) decode(d *decoder) { m.Fid, m.Dfid, m.Name = d.u32(), d.u32(), d.str() }

// Treadlink reads symlink Fid.
type Treadlink struct{ Fid uint32 }

func (*Treadlink) Type() uint8         { return MsgTreadlink }
func (m *Treadlink) encode(e *encoder) { e.u32(m.Fid) }
func (m *Treadlink) decode(d *decoder) { m.Fid = d.u32() }

// Rreadlink answers Treadlink.
type Rreadlink struct{ Target string }

func (*Rreadlink) Type() uint8         { return MsgRreadlink }
func (m *Rreadlink) encode(e *encoder) { e.str(m.Target) }
func (m *Rreadlink) decode(d *decoder) { m.Target = d.str() }

// Tgetattr asks for Fid's attributes.
type Tgetattr struct {
	Fid         uint32
	RequestMask uint64
}

func (*Tgetattr) Type() uint8         { return MsgTgetattr }
func (m *Tgetattr) encode(e *encoder) { e.u32(m.Fid); e.u64(m.RequestMask) }
func (m *Tgetattr) decode(d *decoder) { m.Fid, m.RequestMask = d.u32(), d.u64() }

// Getattr mask bits.
const (
	GetattrBasic uint64 = 0x000007ff
	GetattrAll   uint64 = 0x00003fff
)

// Rgetattr answers Tgetattr.
type Rgetattr struct {
	Valid                                    uint64
	Qid                                      Qid
	Mode, UID, GID                           uint32
	Nlink, Rdev, Size, BlkSize, Blocks       uint64
	AtimeSec, AtimeNsec, MtimeSec, MtimeNsec uint64
	CtimeSec, CtimeNsec, BtimeSec, BtimeNsec uint64
	Gen, DataVersion                         uint64
}

func (*Rgetattr) Type() uint8 { return MsgRgetattr }
func (m *Rgetattr) encode(e *encoder) {
	e.u64(m.Valid)
	e.qid(m.Qid)
	e.u32(m.Mode)
	e.u32(m.UID)
	e.u32(m.GID)
	for _, v := range []uint64{m.Nlink, m.Rdev, m.Size, m.BlkSize, m.Blocks, m.AtimeSec, m.AtimeNsec,
		m.MtimeSec, m.MtimeNsec, m.CtimeSec, m.CtimeNsec, m.BtimeSec, m.BtimeNsec, m.Gen, m.DataVersion} {
		e.u64(v)
	}
}
func (m *Rgetattr) decode(d *decoder) {
	m.Valid, m.Qid, m.Mode, m.UID, m.GID = d.u64(), d.qid(), d.u32(), d.u32(), d.u32()
	for _, p := range []*uint64{&m.Nlink, &m.Rdev, &m.Size, &m.BlkSize, &m.Blocks, &m.AtimeSec, &m.AtimeNsec,
		&m.MtimeSec, &m.MtimeNsec, &m.CtimeSec, &m.CtimeNsec, &m.BtimeSec, &m.BtimeNsec, &m.Gen, &m.DataVersion} {
		*p = d.u64()
	}
}

// Setattr valid bits.
const (
	SetattrMode     uint32 = 0x1
	SetattrUID      uint32 = 0x2
	SetattrGID      uint32 = 0x4
	SetattrSize     uint32 = 0x8
	SetattrAtime    uint32 = 0x10
	SetattrMtime    uint32 = 0x20
	SetattrCtime    uint32 = 0x40
	SetattrAtimeSet uint32 = 0x80
	SetattrMtimeSet uint32 = 0x100
)

// Tsetattr changes Fid's attributes named in Valid.
type Tsetattr struct {
	Fid, Valid, Mode, UID, GID                     uint32
	Size, AtimeSec, AtimeNsec, MtimeSec, MtimeNsec uint64
}

func (*Tsetattr) Type() uint8 { return MsgTsetattr }
func (m *Tsetattr) encode(e *encoder) {
	for _, v := range []uint32{m.Fid, m.Valid, m.Mode, m.UID, m.GID} {
		e.u32(v)
	}
	for _, v := range []uint64{m.Size, m.AtimeSec, m.AtimeNsec, m.MtimeSec, m.MtimeNsec} {
		e.u64(v)
	}
}
func (m *Tsetattr) decode(d *decoder) {
	for _, p := range []*uint32{&m.Fid, &m.Valid, &m.Mode, &m.UID, &m.GID} {
		*p = d.u32()
	}
	for _, p := range []*uint64{&m.Size, &m.AtimeSec, &m.AtimeNsec, &m.MtimeSec, &m.MtimeNsec} {
		*p = d.u64()
	}
}

// Rsetattr answers Tsetattr.
type Rsetattr struct{ empty }

func (*Rsetattr) Type() uint8 { return MsgRsetattr }

// Txattrwalk prepares to read extended attribute Name (or the list, when empty) of Fid into NewFid.
type Txattrwalk struct {
	Fid, NewFid uint32
	Name        string
}

func (*Txattrwalk) Type() uint8         { return MsgTxattrwalk }
func (m *Txattrwalk) encode(e *encoder) { e.u32(m.Fid); e.u32(m.NewFid); e.str(m.Name) }
func (m *Txattrwalk) decode(d *decoder) { m.Fid, m.NewFid, m.Name = d.u32(), d.u32(), d.str() }

// Rxattrwalk answers Txattrwalk.
type Rxattrwalk struct{ Size uint64 }

func (*Rxattrwalk) Type() uint8         { return MsgRxattrwalk }
func (m *Rxattrwalk) encode(e *encoder) { e.u64(m.Size) }
func (m *Rxattrwalk) decode(d *decoder) { m.Size = d.u64() }

// Txattrcreate prepares to set an extended attribute; always refused.
type Txattrcreate struct {
	Fid      uint32
	Name     string
	AttrSize uint64
	Flags    uint32
}

func (*Txattrcreate) Type() uint8 { return MsgTxattrcreat }
func (m *Txattrcreate) encode(e *encoder) {
	e.u32(m.Fid)
	e.str(m.Name)
	e.u64(m.AttrSize)
	e.u32(m.Flags)
}
func (m *Txattrcreate) decode(d *decoder) {
	m.Fid, m.Name, m.AttrSize, m.Flags = d.u32(), d.str(), d.u64(), d.u32()
}

// Treaddir reads directory entries of open directory Fid from Offset (a cookie from an earlier entry, or 0).
type Treaddir struct {
	Fid    uint32
	Offset uint64
	Count  uint32
}

func (*Treaddir) Type() uint8         { return MsgTreaddir }
func (m *Treaddir) encode(e *encoder) { e.u32(m.Fid); e.u64(m.Offset); e.u32(m.Count) }
func (m *Treaddir) decode(d *decoder) { m.Fid, m.Offset, m.Count = d.u32(), d.u64(), d.u32() }

// Rreaddir answers Treaddir with packed entries (see Dirent).
type Rreaddir struct{ Data []byte }

func (*Rreaddir) Type() uint8         { return MsgRreaddir }
func (m *Rreaddir) encode(e *encoder) { e.data(m.Data) }
func (m *Rreaddir) decode(d *decoder) { m.Data = d.data() }

// Dirent is one entry of an Rreaddir: qid, the offset of the next entry, its type (DT_*), and its name.
type Dirent struct {
	Qid    Qid
	Offset uint64
	Type   uint8
	Name   string
}

// Size is the entry's encoded size.
func (de Dirent) Size() int { return QidSize + 8 + 1 + 2 + len(de.Name) }

// AppendDirent appends an encoded entry.
func AppendDirent(b []byte, de Dirent) []byte {
	e := encoder{b: b}
	e.qid(de.Qid)
	e.u64(de.Offset)
	e.u8(de.Type)
	e.str(de.Name)
	return e.b
}

// ParseDirents decodes an Rreaddir's data.
func ParseDirents(b []byte) ([]Dirent, error) {
	d := decoder{b: b}
	var out []Dirent
	for len(d.b) > 0 && d.err == nil {
		de := Dirent{Qid: d.qid(), Offset: d.u64(), Type: d.u8(), Name: d.str()}
		if d.err == nil {
			out = append(out, de)
		}
	}
	return out, d.err
}

// Tfsync flushes Fid to stable storage. Newer clients add a datasync word, older ones do not.
type Tfsync struct {
	Fid      uint32
	Datasync uint32
}

func (*Tfsync) Type() uint8         { return MsgTfsync }
func (m *Tfsync) encode(e *encoder) { e.u32(m.Fid); e.u32(m.Datasync) }
func (m *Tfsync) decode(d *decoder) {
	m.Fid = d.u32()
	if len(d.b) >= 4 {
		m.Datasync = d.u32()
	}
}

// Rfsync answers Tfsync.
type Rfsync struct{ empty }

func (*Rfsync) Type() uint8 { return MsgRfsync }

// Tlock asks for a POSIX lock.
type Tlock struct {
	Fid           uint32
	LockType      uint8
	Flags         uint32
	Start, Length uint64
	ProcID        uint32
	ClientID      string
}

func (*Tlock) Type() uint8 { return MsgTlock }
func (m *Tlock) encode(e *encoder) {
	e.u32(m.Fid)
	e.u8(m.LockType)
	e.u32(m.Flags)
	e.u64(m.Start)
	e.u64(m.Length)
	e.u32(m.ProcID)
	e.str(m.ClientID)
}
func (m *Tlock) decode(d *decoder) {
	m.Fid, m.LockType, m.Flags, m.Start, m.Length, m.ProcID, m.ClientID =
		d.u32(), d.u8(), d.u32(), d.u64(), d.u64(), d.u32(), d.str()
}

// Lock statuses.
const (
	LockSuccess uint8 = 0
	LockBlocked uint8 = 1
	LockError   uint8 = 2
	LockGrace   uint8 = 3
)

// Lock types.
const (
	LockTypeRdlck uint8 = 0
	LockTypeWrlck uint8 = 1
	LockTypeUnlck uint8 = 2
)

// Rlock answers Tlock.
type Rlock struct{ Status uint8 }

func (*Rlock) Type() uint8         { return MsgRlock }
func (m *Rlock) encode(e *encoder) { e.u8(m.Status) }
func (m *Rlock) decode(d *decoder) { m.Status = d.u8() }

// Tgetlock tests for a POSIX lock.
type Tgetlock struct {
	Fid           uint32
	LockType      uint8
	Start, Length uint64
	ProcID        uint32
	ClientID      string
}

func (*Tgetlock) Type() uint8 { return MsgTgetlock }
func (m *Tgetlock) encode(e *encoder) {
	e.u32(m.Fid)
	e.u8(m.LockType)
	e.u64(m.Start)
	e.u64(m.Length)
	e.u32(m.ProcID)
	e.str(m.ClientID)
}
func (m *Tgetlock) decode(d *decoder) {
	m.Fid, m.LockType, m.Start, m.Length, m.ProcID, m.ClientID = d.u32(), d.u8(), d.u64(), d.u64(), d.u32(), d.str()
}

// Rgetlock answers Tgetlock.
type Rgetlock struct {
	LockType      uint8
	Start, Length uint64
	ProcID        uint32
	ClientID      string
}

func (*Rgetlock) Type() uint8 { return MsgRgetlock }
func (m *Rgetlock) encode(e *encoder) {
	e.u8(m.LockType)
	e.u64(m.Start)
	e.u64(m.Length)
	e.u32(m.ProcID)
	e.str(m.ClientID)
}
func (m *Rgetlock) decode(d *decoder) {
	m.LockType, m.Start, m.Length, m.ProcID, m.ClientID = d.u8(), d.u64(), d.u64(), d.u32(), d.str()
}

// Tlink asks for a hard link; always refused.
type Tlink struct {
	Dfid, Fid uint32
	Name      string
}

func (*Tlink) Type() uint8         { return MsgTlink }
func (m *Tlink) encode(e *encoder) { e.u32(m.Dfid); e.u32(m.Fid); e.str(m.Name) }
func (m *Tlink) decode(d *decoder) { m.Dfid, m.Fid, m.Name = d.u32(), d.u32(), d.str() }

// Tmkdir creates directory Name in Dfid.
type Tmkdir struct {
	Dfid      uint32
	Name      string
	Mode, Gid uint32
}

func (*Tmkdir) Type() uint8 { return MsgTmkdir }
func (m *Tmkdir) encode(e *encoder) {
	e.u32(m.Dfid)
	e.str(m.Name)
	e.u32(m.Mode)
	e.u32(m.Gid)
}
func (m *Tmkdir) decode(d *decoder) {
	m.Dfid, m.Name, m.Mode, m.Gid = d.u32(), d.str(), d.u32(), d.u32()
}

// Rmkdir answers Tmkdir.
type Rmkdir struct{ Qid Qid }

func (*Rmkdir) Type() uint8         { return MsgRmkdir }
func (m *Rmkdir) encode(e *encoder) { e.qid(m.Qid) }
func (m *Rmkdir) decode(d *decoder) { m.Qid = d.qid() }

// Trenameat renames OldName in OldDirFid to NewName in NewDirFid.
type Trenameat struct {
	OldDirFid uint32
	OldName   string
	NewDirFid uint32
	NewName   string
}

func (*Trenameat) Type() uint8 { return MsgTrenameat }
func (m *Trenameat) encode(e *encoder) {
	e.u32(m.OldDirFid)
	e.str(m.OldName)
	e.u32(m.NewDirFid)
	e.str(m.NewName)
}
func (m *Trenameat) decode(d *decoder) {
	m.OldDirFid, m.OldName, m.NewDirFid, m.NewName = d.u32(), d.str(), d.u32(), d.str()
}

// Rrenameat answers Trenameat.
type Rrenameat struct{ empty }

func (*Rrenameat) Type() uint8 { return MsgRrenameat }

// Tunlinkat removes Name from DirFid; Flags may hold AT_REMOVEDIR.
type Tunlinkat struct {
	DirFid uint32
	Name   string
	Flags  uint32
}

func (*Tunlinkat) Type() uint8         { return MsgTunlinkat }
func (m *Tunlinkat) encode(e *encoder) { e.u32(m.DirFid); e.str(m.Name); e.u32(m.Flags) }
func (m *Tunlinkat) decode(d *decoder) { m.DirFid, m.Name, m.Flags = d.u32(), d.str(), d.u32() }

// Runlinkat answers Tunlinkat.
type Runlinkat struct{ empty }

func (*Runlinkat) Type() uint8 { return MsgRunlinkat }

// Tstatfs asks for file system statistics.
type Tstatfs struct{ Fid uint32 }

func (*Tstatfs) Type() uint8         { return MsgTstatfs }
func (m *Tstatfs) encode(e *encoder) { e.u32(m.Fid) }
func (m *Tstatfs) decode(d *decoder) { m.Fid = d.u32() }

// Rstatfs answers Tstatfs.
type Rstatfs struct {
	FsType, BSize                             uint32
	Blocks, BFree, BAvail, Files, FFree, FSID uint64
	NameLen                                   uint32
}

func (*Rstatfs) Type() uint8 { return MsgRstatfs }
func (m *Rstatfs) encode(e *encoder) {
	e.u32(m.FsType)
	e.u32(m.BSize)
	for _, v := range []uint64{m.Blocks, m.BFree, m.BAvail, m.Files, m.FFree, m.FSID} {
		e.u64(v)
	}
	e.u32(m.NameLen)
}
func (m *Rstatfs) decode(d *decoder) {
	m.FsType, m.BSize = d.u32(), d.u32()
	for _, p := range []*uint64{&m.Blocks, &m.BFree, &m.BAvail, &m.Files, &m.FFree, &m.FSID} {
		*p = d.u64()
	}
	m.NameLen = d.u32()
}

// Tread reads Count bytes at Offset from open Fid.
type Tread struct {
	Fid    uint32
	Offset uint64
	Count  uint32
}

func (*Tread) Type() uint8         { return MsgTread }
func (m *Tread) encode(e *encoder) { e.u32(m.Fid); e.u64(m.Offset); e.u32(m.Count) }
func (m *Tread) decode(d *decoder) { m.Fid, m.Offset, m.Count = d.u32(), d.u64(), d.u32() }

// Rread answers Tread.
type Rread struct{ Data []byte }

func (*Rread) Type() uint8         { return MsgRread }
func (m *Rread) encode(e *encoder) { e.data(m.Data) }
func (m *Rread) decode(d *decoder) { m.Data = d.data() }

// Twrite writes Data at Offset to open Fid.
type Twrite struct {
	Fid    uint32
	Offset uint64
	Data   []byte
}

func (*Twrite) Type() uint8         { return MsgTwrite }
func (m *Twrite) encode(e *encoder) { e.u32(m.Fid); e.u64(m.Offset); e.data(m.Data) }
func (m *Twrite) decode(d *decoder) { m.Fid, m.Offset, m.Data = d.u32(), d.u64(), d.data() }

// Rwrite answers Twrite.
type Rwrite struct{ Count uint32 }

func (*Rwrite) Type() uint8         { return MsgRwrite }
func (m *Rwrite) encode(e *encoder) { e.u32(m.Count) }
func (m *Rwrite) decode(d *decoder) { m.Count = d.u32() }

// Tclunk forgets Fid.
type Tclunk struct{ Fid uint32 }

func (*Tclunk) Type() uint8         { return MsgTclunk }
func (m *Tclunk) encode(e *encoder) { e.u32(m.Fid) }
func (m *Tclunk) decode(d *decoder) { m.Fid = d.u32() }

// Rclunk answers Tclunk.
type Rclunk struct{ empty }

func (*Rclunk) Type() uint8 { return MsgRclunk }

// Tremove removes the file Fid names and forgets Fid.
type Tremove struct{ Fid uint32 }

func (*Tremove) Type() uint8         { return MsgTremove }
func (m *Tremove) encode(e *encoder) { e.u32(m.Fid) }
func (m *Tremove) decode(d *decoder) { m.Fid = d.u32() }
