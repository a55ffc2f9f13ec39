// String helpers, to try Pronto on JavaScript.

function capitalize(word) {
  if (!word) return word;
  return word[0].toUpperCase() + word.slice(1);
}

function words(sentence) {
  return sentence.split(/\s+/).filter(Boolean);
}

function titleCase(sentence) {
  return words(sentence).map(capitalize).join(' ');
}

// Try it: type "function slugify(" below.

module.exports = { capitalize, words, titleCase };
