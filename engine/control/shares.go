package control

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
