"""Word list for tests/fixtures/models/tiny_bert/vocab.txt (imported by gen_reference.py).

Layout of the 1000-token vocab, following bert-base-uncased's conventions but
compressed: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then single characters
(punctuation, digits, a-z, a few CJK characters from the seed article's
title), their ## continuation pieces, common ## suffixes, then common
lowercase English words, padded with [unusedN] to exactly 1000 lines.
"""

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
DIGITS = list("0123456789")
LETTERS = list("abcdefghijklmnopqrstuvwxyz")
# 自注意力 = self-attention, 编码器 = encoder, 模型 = model (the seed document is Chinese).
CJK = list("自注意力编码器模型的")

SUFFIXES = [
    "##s", "##es", "##ed", "##d", "##ing", "##ly", "##er", "##ers", "##est", "##ion", "##ions",
    "##tion", "##ation", "##ment", "##ments", "##ness", "##ful", "##less", "##able", "##ible",
    "##al", "##ial", "##ic", "##ical", "##ity", "##ive", "##ize", "##ized", "##ise", "##ous",
    "##ing", "##y", "##en", "##ish", "##ist", "##ism", "##ship", "##hood", "##ward", "##wise",
    "##an", "##ian", "##ers", "##or", "##ors", "##ent", "##ence", "##ant", "##ance", "##ure",
    "##th", "##ty", "##ry", "##le", "##el", "##et", "##in", "##on", "##un", "##re", "##ve",
    "##te", "##ne", "##se", "##ce", "##ge", "##de", "##ke", "##me", "##pe", "##ze",
]

WORDS = """
the of and to a in is it you that he was for on are with as i his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find any new work
part take get place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big
high such follow act why ask men change went light kind off need house picture try us again
animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye
never last let thought city tree cross farm hard start might story saw far sea draw left late
run while press close night real life few north open seem together next white children begin
got walk example ease paper group always music those both mark often letter until mile river
car feet care second book carry took science eat room friend began idea fish mountain stop
once base hear horse cut sure watch color face wood main enough plain girl usual young ready
above ever red list though feel talk bird soon body dog family direct pose leave song measure
door product black short numeral class wind question happen complete ship area half rock
order fire south problem piece told knew pass since top whole king space heard best hour
better true during hundred five remember step early hold west ground interest reach fast
verb sing listen six table travel less morning ten simple several toward war lay against
pattern slow center love person money serve appear road map rain rule govern pull cold
notice voice unit power town fine certain fly fall lead cry dark machine note wait plan
figure star box noun field rest correct able pound done beauty drive stood contain front
teach week final gave green quick develop ocean warm free minute strong special mind behind
clear tail produce fact street inch multiply nothing course stay wheel full force blue object
decide surface deep moon island foot system busy test record boat common gold possible plane
instead dry wonder laugh thousand ago ran check game shape equate hot miss brought heat snow
tire bring yes distant fill east paint language among
model models encoder decoder attention self token tokens text document documents corpus
vector vectors embedding embeddings layer layers head heads query key value values weight
weights matrix sequence sequences position positions input output hidden network neural
transformer language learning training data computer machine cluster rank ranks parallel
memory speed fast slow batch length softmax score scores sum normal norm mean max pool
pooling sentence sentences translation source target long short million billion file files
because another being however without within across around upon something everything anything someone everyone
today tomorrow yesterday month century history government company business market price cost service health
student teacher university research method result results process information report solution reason case program
level member community policy effect development experience period social national public private local general
political economic important different available major human natural recent single likely difficult easy continue
create provide include consider allow become remain suggest require offer expect describe explain increase
reduce improve support return receive send share compute encode decode split merge train install
load save store print quickly slowly usually sometimes really actually simply perhaps already almost
quite rather least women friends region village energy size software hardware internet server client
user users node nodes core cores thread threads processes job jobs queue task tasks
cat cow flower grass lake hill forest yellow brown orange purple gray monday tuesday
wednesday thursday friday saturday sunday january february march april june july august september october
november december evening afternoon happy sad angry afraid tired hungry quiet loud bright cool
art music film movie game games player team club news paper journal article
articles chapter section table figure page pages line lines title author authors editor library
school college class lesson course exam science physics chemistry biology mathematics math number numbers
count total average random order sort search find match filter window door wall floor
roof kitchen garden bed chair desk phone camera picture photo bread milk coffee tea
rice apple fruit meat egg water wine beer sugar salt doctor nurse hospital police
army church bank shop store hotel station airport
""".split()


def build_vocab(size=1000):
    seen = set()
    out = []

    def add(tok):
        if tok not in seen:
            seen.add(tok)
            out.append(tok)

    for t in SPECIALS + PUNCT + DIGITS + LETTERS + CJK:
        add(t)
    for t in DIGITS + LETTERS:
        add("##" + t)
    for t in SUFFIXES:
        add(t)
    for t in WORDS:
        add(t)
    if len(out) > size:
        out = out[:size]
    i = 0
    while len(out) < size:
        add("[unused%d]" % i)
        i += 1
    return out
