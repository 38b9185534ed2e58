package control

// OpRevokeShare ends a folder share of the running VM at once (RevokeShareArgs): its share server's connection
// is closed, and every later request from the guest fails with EIO.
const OpRevokeShare = "revoke-share"

// RevokeShareArgs names the share by its mount tag.
type RevokeShareArgs struct {
	Tag string `json:"tag"`
}

// RevokeShare asks the VM to end the share with tag.
func (c *Client) RevokeShare(tag string) error {
	return c.Call(OpRevokeShare, RevokeShareArgs{Tag: tag}, nil)
}
