"""What the measurements read: texts and haystacks (:mod:`.texts`), needles, prompts and the NeedleBench score
(:mod:`.needles`)."""
