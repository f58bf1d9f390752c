"""Reply suggestions: the knowledge base, normalization, jieba tokens, the index and the matcher."""
