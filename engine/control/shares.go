package control

import "os"

// OpRevokeShare ends a folder share of the running VM at once (RevokeShareArgs): its share server's connection
// is closed, and every later request from the guest fails with EIO.
const OpRevokeShare = "revoke-share"

// OpShares lists the running VM's folder shares (-> []ShareState).
const OpShares = "shares"

// ShareState is one folder share of a running VM.
type ShareState struct {
	Tag      string `json:"tag"`
	ReadOnly bool   `json:"read_only"`
	Revoked  bool   `json:"revoked"`
}

// Shares lists the VM's folder shares.
func (c *Client) Shares() ([]ShareState, error) {
	var out []ShareState
	err := c.Call(OpShares, nil, &out)
	return out, err
}

// RevokeShareArgs names the share by its mount tag.
type RevokeShareArgs struct {
	Tag string `json:"tag"`
}

// RevokeShare asks the VM to end the share with tag.
func (c *Client) RevokeShare(tag string) error {
	return c.Call(OpRevokeShare, RevokeShareArgs{Tag: tag}, nil)
}

// OpAddShare gives the running VM a folder share (AddShareArgs), with the connection to its share server passed
// along (SCM_RIGHTS). The guest finds it from its next boot.
const OpAddShare = "add-share"

// AddShareArgs describes the share whose server's connection comes with the request.
type AddShareArgs struct {
	Tag      string `json:"tag"`
	ReadOnly bool   `json:"read_only"`
}

// AddShare passes conn, a connection to the share's server, to the VM as the share tag.
func (c *Client) AddShare(tag string, readOnly bool, conn *os.File) error {
	return c.CallWithFiles(OpAddShare, AddShareArgs{Tag: tag, ReadOnly: readOnly}, nil, conn)
}
