#include "engine/text/language_samples.h"

#include <array>

namespace lwd::text {
namespace {

constexpr std::string_view kEnglish =
    "The weather in the valley changed quickly that morning, and the farmers who had planned to cut the hay "
    "decided to wait until the afternoon. Most of them had lived there all their lives and knew that a cloudy "
    "sky over the northern hills usually meant rain before noon. The children walked to school along the river, "
    "which was higher than it had been for years, while their parents talked about the price of grain and the "
    "new road that the council wanted to build through the old forest. Nobody could agree whether the road would "
    "bring more visitors or simply more noise. In the town, the shops opened at nine o'clock. The baker had been "
    "working since four, and the smell of fresh bread reached the station where people were waiting for the "
    "train to the city. Some of them read newspapers; others looked at their phones or watched the pigeons on "
    "the roof. A young woman with a large suitcase asked an old man whether this was the right platform, and he "
    "told her that the train was always late on Mondays because of the work on the bridge. She thanked him and "
    "sat down on a bench near the clock. When the train finally arrived, it was almost full, but she found a "
    "seat by the window. She opened a book about the history of the region, which explained how the first "
    "settlers had cleared the land, how the mills were built along the river, and why the town became famous "
    "for its wool. The author wrote that every generation thought it was living through the greatest changes "
    "the valley had ever seen, and that each of them was probably right. Research shows that people remember "
    "stories better than lists of facts, so teachers often use examples from daily life to explain difficult "
    "ideas. What matters most is that students understand why something happens, not only what happens. "
    "There are many questions we cannot answer yet, but we should not stop asking them.";

constexpr std::string_view kFrench =
    "Le temps dans la vallée a changé très vite ce matin-là, et les paysans qui voulaient couper le foin ont "
    "décidé d'attendre jusqu'à l'après-midi. La plupart d'entre eux habitaient ici depuis toujours et savaient "
    "qu'un ciel nuageux au-dessus des collines annonçait souvent la pluie avant midi. Les enfants allaient à "
    "l'école le long de la rivière, pendant que leurs parents parlaient du prix du blé et de la nouvelle route "
    "que la mairie voulait construire à travers la vieille forêt. Personne ne savait si cette route amènerait "
    "plus de visiteurs ou simplement plus de bruit. En ville, les boutiques ouvraient à neuf heures. Une jeune "
    "femme avec une grande valise a demandé à un vieil homme si c'était le bon quai, et il lui a répondu que le "
    "train était toujours en retard le lundi à cause des travaux sur le pont. Elle l'a remercié et s'est assise "
    "sur un banc près de l'horloge. Ce qui compte le plus, c'est que les élèves comprennent pourquoi les choses "
    "arrivent, et pas seulement ce qui arrive. Il y a beaucoup de questions auxquelles nous ne pouvons pas "
    "encore répondre, mais nous ne devons pas cesser de les poser.";

constexpr std::string_view kGerman =
    "Das Wetter im Tal änderte sich an diesem Morgen sehr schnell, und die Bauern, die das Heu schneiden wollten, "
    "beschlossen, bis zum Nachmittag zu warten. Die meisten von ihnen hatten ihr ganzes Leben hier verbracht und "
    "wussten, dass ein bewölkter Himmel über den Hügeln meistens Regen vor dem Mittag bedeutete. Die Kinder "
    "gingen am Fluss entlang zur Schule, während ihre Eltern über den Preis des Getreides und die neue Straße "
    "sprachen, die der Gemeinderat durch den alten Wald bauen wollte. Niemand wusste, ob die Straße mehr Besucher "
    "oder nur mehr Lärm bringen würde. In der Stadt öffneten die Geschäfte um neun Uhr. Eine junge Frau mit einem "
    "großen Koffer fragte einen alten Mann, ob dies der richtige Bahnsteig sei, und er erklärte ihr, dass der Zug "
    "montags wegen der Arbeiten an der Brücke immer Verspätung habe. Sie bedankte sich und setzte sich auf eine "
    "Bank neben der Uhr. Am wichtigsten ist, dass die Schüler verstehen, warum etwas geschieht, und nicht nur, "
    "was geschieht. Es gibt viele Fragen, die wir noch nicht beantworten können, aber wir sollten nicht aufhören, "
    "sie zu stellen.";

constexpr std::string_view kSpanish =
    "El tiempo en el valle cambió muy rápido aquella mañana, y los campesinos que querían cortar el heno "
    "decidieron esperar hasta la tarde. La mayoría de ellos había vivido allí toda la vida y sabía que un cielo "
    "nublado sobre las colinas del norte solía significar lluvia antes del mediodía. Los niños caminaban a la "
    "escuela junto al río, mientras sus padres hablaban del precio del trigo y de la nueva carretera que el "
    "ayuntamiento quería construir a través del bosque viejo. Nadie sabía si la carretera traería más visitantes "
    "o simplemente más ruido. En el pueblo, las tiendas abrían a las nueve. Una mujer joven con una maleta grande "
    "le preguntó a un anciano si aquel era el andén correcto, y él le dijo que el tren siempre llegaba tarde los "
    "lunes por las obras del puente. Ella le dio las gracias y se sentó en un banco cerca del reloj. Lo más "
    "importante es que los alumnos entiendan por qué ocurren las cosas, y no solamente qué ocurre. Hay muchas "
    "preguntas que todavía no podemos responder, pero no debemos dejar de hacerlas.";

constexpr std::string_view kItalian =
    "Il tempo nella valle cambiò molto in fretta quella mattina, e i contadini che volevano tagliare il fieno "
    "decisero di aspettare fino al pomeriggio. La maggior parte di loro aveva sempre vissuto lì e sapeva che un "
    "cielo nuvoloso sopra le colline del nord di solito significava pioggia prima di mezzogiorno. I bambini "
    "andavano a scuola lungo il fiume, mentre i genitori parlavano del prezzo del grano e della nuova strada che "
    "il comune voleva costruire attraverso il vecchio bosco. Nessuno sapeva se la strada avrebbe portato più "
    "visitatori o soltanto più rumore. In paese i negozi aprivano alle nove. Una giovane donna con una grande "
    "valigia chiese a un vecchio se quello fosse il binario giusto, e lui le disse che il treno era sempre in "
    "ritardo il lunedì a causa dei lavori sul ponte. Lei lo ringraziò e si sedette su una panchina vicino "
    "all'orologio. La cosa più importante è che gli studenti capiscano perché le cose succedono, e non soltanto "
    "che cosa succede. Ci sono molte domande a cui non possiamo ancora rispondere, ma non dobbiamo smettere di "
    "farle.";

constexpr std::string_view kPortuguese =
    "O tempo no vale mudou muito depressa naquela manhã, e os camponeses que queriam cortar o feno decidiram "
    "esperar até à tarde. A maioria deles tinha vivido ali a vida inteira e sabia que um céu nublado sobre as "
    "colinas do norte costumava significar chuva antes do meio-dia. As crianças iam para a escola ao longo do "
    "rio, enquanto os pais falavam do preço do trigo e da nova estrada que a câmara queria construir através da "
    "floresta velha. Ninguém sabia se a estrada traria mais visitantes ou apenas mais barulho. Na vila, as lojas "
    "abriam às nove horas. Uma mulher jovem com uma mala grande perguntou a um velho se aquela era a plataforma "
    "certa, e ele respondeu que o comboio chegava sempre atrasado às segundas-feiras por causa das obras na "
    "ponte. Ela agradeceu e sentou-se num banco perto do relógio. O mais importante é que os alunos compreendam "
    "por que razão as coisas acontecem, e não apenas o que acontece. Há muitas perguntas a que ainda não "
    "conseguimos responder, mas não devemos deixar de as fazer.";

constexpr std::string_view kDutch =
    "Het weer in het dal veranderde die ochtend heel snel, en de boeren die het hooi wilden maaien besloten tot "
    "de middag te wachten. De meesten van hen hadden hun hele leven daar gewoond en wisten dat een bewolkte "
    "lucht boven de heuvels meestal regen voor de middag betekende. De kinderen liepen langs de rivier naar "
    "school, terwijl hun ouders praatten over de prijs van het graan en de nieuwe weg die de gemeente door het "
    "oude bos wilde aanleggen. Niemand wist of de weg meer bezoekers of alleen meer lawaai zou brengen. In de "
    "stad gingen de winkels om negen uur open. Een jonge vrouw met een grote koffer vroeg aan een oude man of "
    "dit het goede perron was, en hij vertelde haar dat de trein op maandag altijd te laat was vanwege de "
    "werkzaamheden aan de brug. Ze bedankte hem en ging op een bank bij de klok zitten. Het belangrijkste is dat "
    "leerlingen begrijpen waarom iets gebeurt, en niet alleen wat er gebeurt. Er zijn veel vragen die we nog "
    "niet kunnen beantwoorden, maar we moeten niet ophouden ze te stellen.";

constexpr std::array kLatinSamples = {
    LanguageSample{"en", kEnglish},  LanguageSample{"fr", kFrench},     LanguageSample{"de", kGerman},
    LanguageSample{"es", kSpanish},  LanguageSample{"it", kItalian},    LanguageSample{"pt", kPortuguese},
    LanguageSample{"nl", kDutch},
};

// Characters frequent in running text whose simplified and traditional forms
// are different code points (characters shared by both systems say nothing).
constexpr std::array kHanVariants = {
    HanVariantPair{"这", "這"}, HanVariantPair{"们", "們"}, HanVariantPair{"个", "個"}, HanVariantPair{"国", "國"},
    HanVariantPair{"说", "說"}, HanVariantPair{"时", "時"}, HanVariantPair{"会", "會"}, HanVariantPair{"来", "來"},
    HanVariantPair{"对", "對"}, HanVariantPair{"为", "為"}, HanVariantPair{"发", "發"}, HanVariantPair{"学", "學"},
    HanVariantPair{"东", "東"}, HanVariantPair{"经", "經"}, HanVariantPair{"过", "過"}, HanVariantPair{"还", "還"},
    HanVariantPair{"进", "進"}, HanVariantPair{"开", "開"}, HanVariantPair{"关", "關"}, HanVariantPair{"见", "見"},
    HanVariantPair{"长", "長"}, HanVariantPair{"门", "門"}, HanVariantPair{"问", "問"}, HanVariantPair{"间", "間"},
    HanVariantPair{"让", "讓"}, HanVariantPair{"话", "話"}, HanVariantPair{"认", "認"}, HanVariantPair{"识", "識"},
    HanVariantPair{"语", "語"}, HanVariantPair{"车", "車"}, HanVariantPair{"马", "馬"}, HanVariantPair{"书", "書"},
    HanVariantPair{"买", "買"}, HanVariantPair{"卖", "賣"}, HanVariantPair{"电", "電"}, HanVariantPair{"题", "題"},
    HanVariantPair{"难", "難"}, HanVariantPair{"么", "麼"}, HanVariantPair{"样", "樣"}, HanVariantPair{"没", "沒"},
    HanVariantPair{"当", "當"}, HanVariantPair{"从", "從"}, HanVariantPair{"动", "動"}, HanVariantPair{"种", "種"},
    HanVariantPair{"应", "應"}, HanVariantPair{"实", "實"}, HanVariantPair{"现", "現"}, HanVariantPair{"点", "點"},
    HanVariantPair{"业", "業"}, HanVariantPair{"场", "場"}, HanVariantPair{"报", "報"}, HanVariantPair{"气", "氣"},
    HanVariantPair{"区", "區"}, HanVariantPair{"将", "將"}, HanVariantPair{"与", "與"}, HanVariantPair{"产", "產"},
    HanVariantPair{"机", "機"}, HanVariantPair{"员", "員"}, HanVariantPair{"体", "體"}, HanVariantPair{"无", "無"},
    HanVariantPair{"边", "邊"}, HanVariantPair{"华", "華"}, HanVariantPair{"乐", "樂"}, HanVariantPair{"听", "聽"},
    HanVariantPair{"觉", "覺"}, HanVariantPair{"写", "寫"}, HanVariantPair{"读", "讀"}, HanVariantPair{"钱", "錢"},
    HanVariantPair{"银", "銀"}, HanVariantPair{"飞", "飛"}, HanVariantPair{"鱼", "魚"}, HanVariantPair{"鸟", "鳥"},
    HanVariantPair{"岁", "歲"}, HanVariantPair{"头", "頭"}, HanVariantPair{"义", "義"}, HanVariantPair{"办", "辦"},
};

}  // namespace

std::span<const LanguageSample> latin_language_samples() { return kLatinSamples; }
std::span<const HanVariantPair> han_variant_pairs() { return kHanVariants; }

}  // namespace lwd::text
