/**
 * What the simulated model says: plausible text from a small phrase bank,
 * chosen by a hash of the prompt so the same prompt always gets the same
 * answer and different prompts get different ones. Also the token estimate
 * and the embeddings.
 */

/** About one token per 4 characters, the usual rule of thumb for English. */
export function tokensOf(text: string): number {
  return Math.ceil(text.length / 4);
}

/** A 32-bit FNV-1a hash of a text. */
function hashOf(text: string): number {
  let hash = 2166136261;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 16777619);
  return hash >>> 0;
}

/** A small seeded PRNG (mulberry32): numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Sentences in the target language, picked by the source text: they read like a translation, not an echo.
const TRANSLATIONS: Record<string, readonly string[]> = {
  french: [
    "Le renard brun et rapide saute par-dessus le chien paresseux.",
    "Bonjour, j'espère que vous passez une excellente journée.",
    "Ce projet traite de grandes quantités de texte en parallèle.",
    "La patience et la régularité valent mieux que la précipitation.",
  ],
  spanish: [
    "El rápido zorro marrón salta sobre el perro perezoso.",
    "Buenos días, espero que tengas un día excelente.",
    "Este proyecto procesa grandes cantidades de texto en paralelo.",
    "La paciencia y la constancia valen más que la prisa.",
  ],
  german: [
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Guten Morgen, ich hoffe, Sie haben einen schönen Tag.",
    "Dieses Projekt verarbeitet große Textmengen parallel.",
    "Geduld und Beständigkeit sind besser als Eile.",
  ],
  italian: [
    "La veloce volpe marrone salta sopra il cane pigro.",
    "Buongiorno, spero che tu stia passando una bella giornata.",
    "Questo progetto elabora grandi quantità di testo in parallelo.",
  ],
  portuguese: [
    "A rápida raposa marrom pula sobre o cão preguiçoso.",
    "Bom dia, espero que você tenha um ótimo dia.",
    "Este projeto processa grandes volumes de texto em paralelo.",
  ],
  japanese: ["素早い茶色の狐が怠け者の犬を飛び越える。", "おはようございます。素敵な一日をお過ごしください。", "このプロジェクトは大量のテキストを並行して処理します。"],
  chinese: ["敏捷的棕色狐狸跳过了懒狗。", "早上好，祝你度过美好的一天。", "这个项目并行处理大量文本。"],
  korean: ["빠른 갈색 여우가 게으른 개를 뛰어넘는다.", "좋은 아침입니다. 멋진 하루 보내세요.", "이 프로젝트는 많은 양의 텍스트를 병렬로 처리합니다."],
  russian: ["Быстрая бурая лиса перепрыгивает через ленивую собаку.", "Доброе утро, желаю вам отличного дня.", "Этот проект обрабатывает большие объёмы текста параллельно."],
  dutch: ["De snelle bruine vos springt over de luie hond.", "Goedemorgen, ik hoop dat je een fijne dag hebt."],
};

const SUMMARIES = [
  "In short, the text is about {topic}, and its main point is that small steps add up.",
  "The passage describes {topic} and concludes that a steady pace beats bursts of effort.",
  "Summary: {topic} is introduced, two practical consequences follow, and a short outlook closes it.",
  "The author explains {topic} in plain terms and recommends trying it on a small example first.",
];

const REPLIES = [
  "Here is a short answer about {topic}: start small, measure, then scale up what works.",
  "Good question about {topic}. The usual approach is to split the work into independent pieces.",
  "Regarding {topic}: the key trade-off is between speed and staying within the provider's limits.",
  "{Topic} depends on the context, but a careful default is to retry politely and keep a budget.",
  "Thanks for asking about {topic}. In most cases a simple, well-tested solution is enough.",
];

// "into" may name a language in any case; "to" only a capitalised word, so "want to translate" names none.
const LANGUAGE_MENTIONS = [/\binto\s+(\p{L}[\p{L}-]*)/gu, /\bto\s+(\p{Lu}[\p{L}-]*)/gu];
const NOT_LANGUAGES = new Set(["the", "a", "an", "this", "that", "it", "your", "my"]);

function targetLanguage(prompt: string): string | undefined {
  if (!/translat/i.test(prompt)) return undefined;
  for (const pattern of LANGUAGE_MENTIONS) {
    for (const match of prompt.matchAll(pattern)) {
      const name = match[1]!;
      if (NOT_LANGUAGES.has(name.toLowerCase()) || /^translat/i.test(name)) continue;
      return name;
    }
  }
  return undefined;
}

const STOP_WORDS = new Set(
  "about after again also because before being could every following from have into just more most only other please should some than that their them then there these they this those through under very what when where which while with would your translate summarize summarise explain text".split(
    " ",
  ),
);

/** The prompt's most telling words (the longest ones that are not filler), for "{topic}". */
function topicOf(prompt: string): string {
  const words = [...new Set(prompt.toLowerCase().match(/\p{L}{4,}/gu) ?? [])].filter((word) => !STOP_WORDS.has(word));
  const picked = words.sort((a, b) => b.length - a.length || a.localeCompare(b)).slice(0, 2);
  return picked.length === 0 ? "your request" : picked.join(" and ");
}

function pick<T>(bank: readonly T[], key: string): T {
  return bank[hashOf(key) % bank.length]!;
}

/**
 * The simulated model's deterministic answer to a prompt: a sentence in the
 * target language for a translation request (`"Translate ... into French: ..."`),
 * a summary-like sentence for a summary request, a short reply otherwise.
 *
 * @example
 * simulatedReply("Translate the following text into German:\nGood morning");
 * // "Guten Morgen, ich hoffe, Sie haben einen schönen Tag." (one of the German sentences)
 */
export function simulatedReply(prompt: string): string {
  const language = targetLanguage(prompt);
  if (language !== undefined) {
    const bank = TRANSLATIONS[language.toLowerCase()];
    if (bank !== undefined) return pick(bank, prompt);
    return `(${language}) ${pick(TRANSLATIONS.spanish!, prompt)}`;
  }
  const topic = topicOf(prompt);
  const bank = /summar/i.test(prompt) ? SUMMARIES : REPLIES;
  return pick(bank, prompt)
    .replace("{topic}", topic)
    .replace("{Topic}", topic.charAt(0).toUpperCase() + topic.slice(1));
}

/** A unit vector of 8 numbers that depends only on the text, rounded to float32 so JSON and base64 agree. */
export function embeddingOf(text: string): number[] {
  const next = mulberry32(hashOf(text));
  const vector = Array.from({ length: 8 }, () => next() * 2 - 1);
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => Math.fround(value / norm));
}

/**
 * Formats a duration the way OpenAI's `x-ratelimit-reset-*` headers and
 * "Please try again in …" messages do (Go's style), rounding up to whole
 * milliseconds: `20ms`, `1s`, `1.5s`, `6m0s`, `2h0m0s`; zero or less is `0s`.
 *
 * @example
 * formatDuration(90_500); // "1m30.5s"
 */
export function formatDuration(ms: number): string {
  const total = Math.ceil(ms);
  if (!(total > 0)) return "0s";
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = ((total % 60_000) / 1000).toFixed(3).replace(/\.?0+$/, "");
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
