package virtio

// Device status bits (virtio 1.2, 2.1).
const (
	StatusAcknowledge      = 1
	StatusDriver           = 2
	StatusDriverOK         = 4
	StatusFeaturesOK       = 8
	StatusDeviceNeedsReset = 0x40
	StatusFailed           = 0x80
)

// Transport and ring feature bits (virtio 1.2, 6).
const (
	FeatureRingIndirectDesc = 1 << 28
	FeatureRingEventIdx     = 1 << 29
	FeatureVersion1         = 1 << 32
)

// Device types (virtio 1.2, 5). The PCI device ID is 0x1040 plus the type.
const (
	TypeNet     = 1
	TypeBlock   = 2
	TypeConsole = 3
	TypeRNG     = 4
	TypeSCSI    = 8
	TypeInput   = 18
)

// NoVector is the MSI-X vector value meaning "no interrupt".
const NoVector = 0xffff

// Split virtqueue flags (virtio 1.2, 2.7).
const (
	DescFlagNext       = 1
	DescFlagWrite      = 2
	DescFlagIndirect   = 4
	AvailFlagNoIntr    = 1
	MaxQueueSize       = 32768
	MaxIndirectDescs   = 1024 // longest indirect table accepted; Linux never builds longer ones
	descSize           = 16
	usedElemSize       = 8
	ringHeaderSize     = 4
	ringEventSize      = 2
	descTableAlign     = 16
	availRingAlign     = 2
	usedRingAlign      = 4
	maxQueuesPerDevice = 64 // pending notifications are one bit per queue in a uint64
)
