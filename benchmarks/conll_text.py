"""Turn CoNLL-2003 token lists back into natural raw text, keeping each token's character offsets.

The tokenizer benchmark (``tokenizers.py``) needs raw text whose gold tokens are known: CoNLL-2003
ships only tokens, so each sentence is joined into the text a person would have typed, and a
tokenizer is then scored on how well it recovers the original tokens from that text.
"""

from __future__ import annotations

# Tokens written straight after the previous one, with no space before them.
NO_SPACE_BEFORE = frozenset(
    {",", ".", ";", ":", "!", "?", "...", ")", "]", "}", "%", "''", "'s", "'S", "n't", "N'T"}
    | {"'m", "'M", "'re", "'RE", "'ve", "'VE", "'d", "'D", "'ll", "'LL"}
)
# Tokens after which the next one follows with no space.
NO_SPACE_AFTER = frozenset({"(", "[", "{", "$", "``", "#"})


def detokenize(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join the tokens of one CoNLL sentence into natural raw text.

    Tokens are separated by one space, except where English typography writes none:

    - no space before closing punctuation ``, . ; : ! ? ... ) ] }``, before ``%``, before the
      Penn Treebank clitics ``'s n't 'm 're 've 'd 'll`` (any case) and before a closing quote;
    - no space after ``( [ { $ #`` and after an opening quote;
    - double quotes: ````` is always opening and ``''`` always closing; a plain ``"`` opens when no
      double quote is open in the sentence and closes the one that is (CoNLL-2003 writes ``"`` for
      both). A sentence with an odd number of ``"`` whose first one follows ``, . ? !`` continues a
      quotation opened in an earlier sentence: that first ``"`` closes it;
    - a lone ``'``: it closes a single quote opened earlier in the sentence; else, right after a
      token ending in ``s`` it is the possessive of a plural (``players '`` → ``players'``) and is
      attached; else it opens a single quote;
    - the first token is never preceded by a space, and no text ends in a space.

    Hyphens and dashes (``-``, ``--``) keep their spaces: CoNLL-2003 keeps hyphenated words as one
    token, so a lone ``-`` stood between spaces in the source text.

    Args:
        tokens: the sentence's tokens, none empty and none containing white space.

    Returns:
        ``(text, offsets)``, where ``offsets[i] = (start, end)`` and ``text[start:end] == tokens[i]``.
    """
    pieces: list[str] = []
    offsets: list[tuple[int, int]] = []
    length = 0
    # An odd count whose first quote follows closing punctuation: the quotation began earlier.
    quotes = [i for i, token in enumerate(tokens) if token == '"']
    double_open = len(quotes) % 2 == 1 and quotes[0] > 0 and tokens[quotes[0] - 1] in {",", ".", "?", "!"}
    single_open = False
    glue_next = True  # nothing before the first token
    for token in tokens:
        glue = glue_next
        glue_next = token in NO_SPACE_AFTER
        if token in NO_SPACE_BEFORE:
            glue = True
        elif token == "``":
            double_open = True
            glue_next = True
        elif token == '"':
            if double_open:
                glue = True
            else:
                glue_next = True
            double_open = not double_open
        elif token == "'":
            if single_open:
                glue, single_open = True, False
            elif pieces and pieces[-1][-1:] in ("s", "S"):
                glue = True
            else:
                single_open, glue_next = True, True
        if token == "''":
            double_open = False
        if not glue:
            pieces.append(" ")
            length += 1
        offsets.append((length, length + len(token)))
        pieces.append(token)
        length += len(token)
    return "".join(pieces), offsets
