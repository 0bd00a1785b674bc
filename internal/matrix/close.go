package matrix

// Close forgets a bot that was removed while the gateway runs, once its Serve has returned:
// its series leave /metrics and the file store no longer fetches media through it.
func (s *Session) Close() {
	s.device.Close()
	s.acct.Metrics.ForgetBot(s.acct.MetricsLabel())
	s.bot.out.files.Close()
}
