"""Export step 5: an Ollama ``Modelfile`` beside the GGUF, so ``ollama create NAME -f Modelfile`` just works.

The TEMPLATE reproduces ChatML, the format training used (each message as ``<|im_start|>role\\ncontent<|im_end|>\\n``,
then the open assistant turn), and the stop parameters end a reply at the end of its turn. There is no SYSTEM line on
purpose: the persona's system prompt comes from the prompt builder with every request, as in training. A base model
whose template is not ChatML gets no TEMPLATE (Ollama then reads the template stored in the GGUF) and a comment
saying so.
"""
from __future__ import annotations

CHATML_TEMPLATE = (
    '{{- range .Messages }}<|im_start|>{{ .Role }}\n'
    '{{ .Content }}<|im_end|>\n'
    '{{ end }}<|im_start|>assistant\n'
)
# What the bot's defaults will be; short Discord lines need little context.
PARAMETERS = (("temperature", "0.7"), ("top_p", "0.9"), ("repeat_penalty", "1.1"), ("num_ctx", "2048"))


def is_chatml(chat_template: str | None) -> bool:
    return bool(chat_template) and "<|im_start|>" in chat_template and "<|im_end|>" in chat_template


def modelfile_text(gguf_name: str, chat_template: str | None, eos_token: str | None) -> str:
    """The Modelfile for ``gguf_name`` (a file name in the same folder)."""
    lines = ["# Ollama Modelfile written by Discord Persona Studio. Use: ollama create my-persona -f Modelfile",
             f"FROM ./{gguf_name}", ""]
    if is_chatml(chat_template):
        lines += [f'TEMPLATE """{CHATML_TEMPLATE}"""', "", 'PARAMETER stop "<|im_end|>"',
                  'PARAMETER stop "<|im_start|>"']
    else:
        lines += ["# The training template is not ChatML: Ollama uses the chat template stored in the GGUF."]
        if eos_token:
            lines.append(f'PARAMETER stop "{eos_token}"')
    lines += [f"PARAMETER {name} {value}" for name, value in PARAMETERS]
    lines += ["", "# No SYSTEM line: send the persona's system prompt (from the prompt builder) with each request."]
    return "\n".join(lines) + "\n"
