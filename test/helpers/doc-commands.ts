// The commands of a page such as docs/vm-quickstart.md, in order: every fenced block whose info
// string is `sh <host>` (```sh vm1), split into commands as a shell reads them line by line, a
// here-document being part of the command that opens it. Other blocks (output, YAML) are prose.

export interface DocCommand {
  /** The host the block is for: the word after `sh` in its info string. */
  vm: string;
  text: string;
}

export function docCommands(markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```sh (\S+)\s*$/.exec(lines[i]);
    if (!open) continue;
    const vm = open[1];
    for (i++; i < lines.length && lines[i] !== '```'; i++) {
      const line = lines[i];
      if (line.trim() === '') continue;
      const heredoc = /<<-?'?"?([A-Za-z_]+)'?"?/.exec(line);
      if (!heredoc) {
        out.push({ vm, text: line });
        continue;
      }
      const body = [line];
      for (i++; i < lines.length && lines[i] !== heredoc[1]; i++) body.push(lines[i]);
      if (i >= lines.length) throw new Error(`the here-document opened by "${line}" has no ${heredoc[1]} line`);
      body.push(lines[i]);
      out.push({ vm, text: body.join('\n') });
    }
  }
  return out;
}
